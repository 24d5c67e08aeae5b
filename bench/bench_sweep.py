"""Sweep 200 loopback targets (160 healthy, 20 that never answer, 20 that refuse) with a
1 s timeout, and compare the sweep's wall time with its slowest single probe: first the
probes alone, then with the finder (every failing target's alternatives, which here are
silent or refused too: the worst case, nothing found), under the sweep's one deadline.

    /work/main/.venv/bin/python bench/bench_sweep.py

The services run in separate processes (tests/lab_server.py) so that the sweep's threads do
not share a GIL with the servers answering them.
"""

from __future__ import annotations

import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import size  # noqa: E402
from portal.connectivity.alternatives import candidate_addresses  # noqa: E402
from portal.connectivity.diagnosis import NetworkContext  # noqa: E402
from portal.connectivity.probes import ProbeKind, ProbeSpec, run_probe  # noqa: E402
from portal.connectivity.sweep import run_sweep, run_sweep_with_finder  # noqa: E402

TIMEOUT = 1.0
HEALTHY, SILENT, REFUSED = size(160, 16), size(20, 2), size(20, 2)
HTTP_SERVERS = 4
ROUNDS = size(3, 1)
GOAL = 1.3


def start_server(kind: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "lab_server.py"),
            "--kind", kind,
            "--host", "127.0.0.1",
            "--port", "0",
            "--responses", '{"/health": [200, "OK"]}',
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready "):
        raise RuntimeError(f"lab_server {kind} did not start: {line!r}")
    return process, int(line.split()[1])


def http(port: int) -> ProbeSpec:
    return ProbeSpec(kind=ProbeKind.HTTP, url=f"http://127.0.0.1:{port}/health", timeout=TIMEOUT)


def main() -> None:
    processes = []
    refusing: list[socket.socket] = []
    try:
        http_ports = []
        for _ in range(HTTP_SERVERS):
            process, port = start_server("http")
            processes.append(process)
            http_ports.append(port)
        silent_process, silent_port = start_server("tcp")
        processes.append(silent_process)
        for _ in range(REFUSED):  # bound, not listening: the kernel answers with a reset
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            refusing.append(sock)

        specs = [http(http_ports[i % HTTP_SERVERS]) for i in range(HEALTHY)]
        specs += [http(silent_port)] * SILENT
        specs += [http(sock.getsockname()[1]) for sock in refusing]
        random.Random(7).shuffle(specs)

        run_sweep(specs[:10])  # warm up imports and the servers' first threads
        slowest_single = run_probe(http(silent_port)).latency_ms / 1000

        ratios = []
        for round_number in range(1, ROUNDS + 1):
            started = time.monotonic()
            outcomes = run_sweep(specs)
            wall = time.monotonic() - started
            ok = sum(o.ok for o in outcomes)
            kinds = sorted({str(o.error_kind) for o in outcomes if not o.ok})
            slowest_in_sweep = max(o.latency_ms for o in outcomes) / 1000
            ratio = wall / slowest_single
            ratios.append(ratio)
            print(
                f"round {round_number}: {len(specs)} targets, {ok} ok, failures {kinds}, "
                f"slowest probe inside the sweep {slowest_in_sweep:.2f}s"
            )
            print(
                f"sweep_{len(specs)}_targets: wall={wall:.2f}s "
                f"slowest_probe={slowest_single:.2f}s ratio={ratio:.2f} (goal <= {GOAL})"
            )
        print(f"median ratio over {ROUNDS} rounds: {statistics.median(ratios):.2f}")
        finder_rounds(specs, slowest_single)
    finally:
        for sock in refusing:
            sock.close()
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


# On the host (no host.docker.internal, no gateway guessed): the alternatives are the names
# given, which lead back to the silent server (localhost) or to nobody (127.0.0.2, 127.0.0.3).
ON_THE_HOST = NetworkContext(network="bench", in_container=False)
ALTERNATIVES = ["localhost", "127.0.0.2", "127.0.0.3"]


def finder_rounds(specs: list[ProbeSpec], slowest_single: float) -> None:
    def candidates_for(index: int, outcome: object) -> list[ProbeSpec]:
        if getattr(outcome, "ok", False):
            return []
        return candidate_addresses(specs[index], ON_THE_HOST, ALTERNATIVES)

    ratios = []
    for round_number in range(1, ROUNDS + 1):
        started = time.monotonic()
        outcomes, tried = run_sweep_with_finder(specs, candidates_for)
        wall = time.monotonic() - started
        alternatives = sum(len(t) for t in tried)
        ratio = wall / slowest_single
        ratios.append(ratio)
        print(
            f"round {round_number}: {len(specs)} targets, {sum(not o.ok for o in outcomes)} failed, "
            f"{alternatives} alternatives probed, {sum(alt.ok for t in tried for _, alt in t)} answered"
        )
        print(
            f"sweep_{len(specs)}_targets_with_finder: wall={wall:.2f}s "
            f"slowest_probe={slowest_single:.2f}s ratio={ratio:.2f} (goal <= {GOAL})"
        )
    print(f"median ratio with the finder over {ROUNDS} rounds: {statistics.median(ratios):.2f}")


def run() -> None:
    """Entry point for `python -m bench` (bench/__main__.py calls run())."""
    main()


if __name__ == "__main__":
    main()
