"""A sweep: every due probe at once, so it lasts about as long as its slowest probe.

With the finder (`run_sweep_with_finder`) a failing probe's alternatives start the moment it
fails, on a pool of their own, and all of them share ONE deadline: FINDER_DEADLINE_FACTOR
times the slowest timeout in the sweep. So a sweep whose silent targets need the finder still
ends close to its slowest probe, instead of slowest probe + the finder's own timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import replace

from portal.connectivity.probes import ErrorKind, ProbeOutcome, ProbeSpec, run_probe

# Probes spend their time waiting on the network, not the CPU: one thread each, up to a
# cap that keeps a huge target list from opening thousands of sockets at once.
MAX_WORKERS = 64
# Candidates are short probes that mostly fail fast or answer fast; they get threads of
# their own so that a slow main probe never holds one back.
FINDER_MAX_WORKERS = 128
FINDER_DEADLINE_FACTOR = 1.2
# Less than this left before the deadline: the candidates are not worth starting.
MIN_CANDIDATE_SECONDS = 0.05

Tried = list[tuple[ProbeSpec, ProbeOutcome]]
CandidatesFor = Callable[[int, ProbeOutcome], Sequence[ProbeSpec]]


def run_sweep(specs: Sequence[ProbeSpec], *, max_workers: int = MAX_WORKERS) -> list[ProbeOutcome]:
    """Run every spec concurrently; outcomes come back in the order of `specs`."""
    if not specs:
        return []
    workers = max(1, min(len(specs), max_workers))
    if workers == 1:
        return [run_probe(spec) for spec in specs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        return list(pool.map(run_probe, specs))


def run_sweep_with_finder(
    specs: Sequence[ProbeSpec],
    candidates_for: CandidatesFor,
    *,
    max_workers: int = MAX_WORKERS,
    finder_workers: int = FINDER_MAX_WORKERS,
    deadline_factor: float = FINDER_DEADLINE_FACTOR,
) -> tuple[list[ProbeOutcome], list[Tried]]:
    """Probe every spec; as each finishes, `candidates_for(index, outcome)` names the
    alternatives to try (none for a healthy one), which start at once and are cut to the
    sweep's one deadline. Returns the outcomes and, per spec, (candidate, outcome) in the
    order `candidates_for` gave them."""
    if not specs:
        return [], []
    deadline = time.monotonic() + deadline_factor * max(spec.timeout for spec in specs)
    outcomes: list[ProbeOutcome | None] = [None] * len(specs)
    started: list[tuple[int, ProbeSpec, Future[ProbeOutcome]]] = []
    workers = max(1, min(len(specs), max_workers))
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as probes,
        ThreadPoolExecutor(max_workers=finder_workers, thread_name_prefix="finder") as finder,
    ):
        futures = {probes.submit(run_probe, spec): index for index, spec in enumerate(specs)}
        for future in as_completed(futures):
            index = futures[future]
            outcome = outcomes[index] = future.result()
            left = deadline - time.monotonic()
            if left < MIN_CANDIDATE_SECONDS:
                continue
            for candidate in candidates_for(index, outcome):
                candidate = replace(candidate, timeout=min(candidate.timeout, left))
                started.append((index, candidate, finder.submit(probe_alternative, candidate)))
        tried: list[Tried] = [[] for _ in specs]
        for index, candidate, pending in started:
            tried[index].append((candidate, pending.result()))
    return [o for o in outcomes if o is not None], tried


CREDENTIALS_NOT_TRIED = "answers, credentials not tried"


def probe_alternative(candidate: ProbeSpec) -> ProbeOutcome:
    """A candidate's probe: a refused login counts as an answer. A password was entered for
    the target's own host, so candidates go without it, and a server there that refuses the
    missing login still proves something answers at that address."""
    outcome = run_probe(candidate)
    if outcome.error_kind is ErrorKind.AUTH_FAILED:
        return replace(
            outcome, ok=True, detail=f"{outcome.target} {CREDENTIALS_NOT_TRIED} ({outcome.detail})"
        )
    return outcome
