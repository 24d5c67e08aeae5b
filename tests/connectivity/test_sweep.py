from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from portal.connectivity.probes import ProbeKind, ProbeOutcome, ProbeSpec, run_probe
from portal.connectivity.sweep import FINDER_DEADLINE_FACTOR, run_sweep, run_sweep_with_finder
from tests.lab_server import LabHTTPServer


def http(port: int, path: str = "/health", timeout: float = 2.0) -> ProbeSpec:
    return ProbeSpec(kind=ProbeKind.HTTP, url=f"http://127.0.0.1:{port}{path}", timeout=timeout)


def test_it_returns_the_outcomes_in_the_order_of_the_targets(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    specs = [http(server.port), http(refused_port), http(server.port, "/nope")]

    outcomes = run_sweep(specs)

    assert [o.target for o in outcomes] == [s.target for s in specs]
    assert [o.ok for o in outcomes] == [True, False, False]
    assert [o.http_status for o in outcomes] == [200, None, 404]


def test_it_lasts_about_as_long_as_its_slowest_probe(
    http_server: Callable[..., LabHTTPServer], silent_port: int, refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    slow = http(silent_port, timeout=0.5)
    specs = [slow, http(server.port), http(refused_port)] * 10

    started = time.monotonic()
    outcomes = run_sweep(specs)
    wall = time.monotonic() - started

    assert sum(not o.ok for o in outcomes) == 20
    assert wall < 0.5 * 1.5, wall  # ten 0.5 s timeouts run side by side, not one after another


def test_it_queues_probes_beyond_its_worker_cap(silent_port: int) -> None:
    specs = [http(silent_port, timeout=0.3)] * 4

    started = time.monotonic()
    run_sweep(specs, max_workers=2)
    wall = time.monotonic() - started

    assert 0.55 < wall < 0.9  # two rounds of two


def test_it_sweeps_nothing_at_once() -> None:
    assert run_sweep([]) == []


def test_it_sweeps_a_single_target(refused_port: int) -> None:
    spec = ProbeSpec(kind=ProbeKind.TCP, host="127.0.0.1", port=refused_port)

    assert run_sweep([spec])[0].error_kind == run_probe(spec).error_kind


# -- with the finder: one deadline for the probes and their alternatives -------------------


def test_the_finder_shares_the_sweeps_deadline(silent_port: int) -> None:
    # Ten silent targets whose ten alternatives are silent too: alone, each alternative would
    # cost its own 2 s; under the sweep's one deadline they end with it.
    specs = [http(silent_port, timeout=0.5)] * 10

    started = time.monotonic()
    outcomes, tried = run_sweep_with_finder(
        specs,
        lambda index, outcome: [
            replace(http(silent_port, timeout=2.0), url=f"http://localhost:{silent_port}/health")
        ],
    )
    wall = time.monotonic() - started

    assert [len(t) for t in tried] == [1] * 10
    assert not any(o.ok for o in outcomes) and not any(alt.ok for t in tried for _, alt in t)
    assert wall < 0.5 * FINDER_DEADLINE_FACTOR + 0.15, wall


def test_the_finder_starts_as_soon_as_a_probe_fails(
    http_server: Callable[..., LabHTTPServer], silent_port: int, refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    specs = [http(silent_port, timeout=1.0), http(refused_port, timeout=1.0)]
    asked: list[tuple[int, float]] = []
    started = time.monotonic()

    def candidates_for(index: int, outcome: ProbeOutcome) -> list[ProbeSpec]:
        asked.append((index, time.monotonic() - started))
        return [] if outcome.ok else [http(server.port)]

    outcomes, tried = run_sweep_with_finder(specs, candidates_for)

    # The refused one's alternative ran while the silent one was still waiting.
    assert asked[0][0] == 1 and asked[0][1] < 0.3
    assert [alt.ok for _, alt in tried[1]] == [True]
    assert [o.ok for o in outcomes] == [False, False]


def test_the_finder_sweeps_nothing_at_once() -> None:
    assert run_sweep_with_finder([], lambda index, outcome: []) == ([], [])
