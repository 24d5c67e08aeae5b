"""Benchmarks (not tests). `make bench` runs every bench/bench_*.py module's `run()`.

Each benchmark prints its figures as `name: key=value ... (goal ...)` lines, measured as
ratios inside one run so the machine's speed cancels out. They run on PostgreSQL and Redis
(scripts/with-test-services) in a database of their own, `portal_bench` (`portal_sN_bench` under
TEST_SLOT=N).

`make bench-quick` (BENCH_QUICK=1) runs the same code paths at small sizes, so that CI keeps
every benchmark working; its figures say nothing about the goals.
"""

from __future__ import annotations

import os

QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no", "off")


def size(full: int, quick: int) -> int:
    """`full` under `make bench`, `quick` under `make bench-quick`."""
    return quick if QUICK else full
