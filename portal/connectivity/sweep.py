"""A sweep: every due probe at once, so it lasts about as long as its slowest probe."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from portal.connectivity.probes import ProbeOutcome, ProbeSpec, run_probe

# Probes spend their time waiting on the network, not the CPU: one thread each, up to a
# cap that keeps a huge target list from opening thousands of sockets at once.
MAX_WORKERS = 64


def run_sweep(specs: Sequence[ProbeSpec], *, max_workers: int = MAX_WORKERS) -> list[ProbeOutcome]:
    """Run every spec concurrently; outcomes come back in the order of `specs`."""
    if not specs:
        return []
    workers = max(1, min(len(specs), max_workers))
    if workers == 1:
        return [run_probe(spec) for spec in specs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        return list(pool.map(run_probe, specs))
