"""Spend history: a sync of 10,000 keys that all spent something, with spend recording and
budget alert checking vs without either (goal ratio <= 1.2), in one run against the simulator
process.

"Without" is the same sync with the recording step (sync.spend_record_applied) and the alert check
(sync.budget_alerts_check) replaced by nothing, so the ratio is what both add. Every key's
spend moves before each sync: the worst case. The budget ($1.25) makes the "with" rounds cross
80 % (10,000 new alerts), then 100 % (10,000 more), then nothing new (every row a conflict).
"""

from __future__ import annotations

import math
import time
from typing import Any

from bench import size
from bench.bench_litellm import PAGE_SIZE, QueryCounter, SimulatorProcess, _clean

SYNC_KEYS = size(10_000, 300)
ROUNDS = size(3, 1)
BUDGET = 1.25


def run() -> None:
    from integrations.litellm import sync
    from integrations.litellm.client import LiteLLMClient
    from integrations.litellm.models import BudgetAlert, KeySpend, LiteLLMServer

    master = "sk-bench-master-0123456789abcdef"
    _clean()
    with SimulatorProcess(master) as sim:
        raws = sim.control("POST", "/_sim/seed_keys", {"n": SYNC_KEYS, "fields": {"max_budget": BUDGET}})[
            "keys"
        ]
        server = LiteLLMServer(name="bench", base_url=sim.base_url, network="backend-dev")
        server.master_key = master
        server.save()
        client = LiteLLMClient(base_url=sim.base_url, master_key=master)
        sync.keys_sync(server=server, client=client)  # adopt: every key gets its baseline
        recording, checking = sync.spend_record_applied, sync.budget_alerts_check
        level = 0.0
        timings: dict[str, list[float]] = {"without": [], "with": []}
        queries: dict[str, int] = {}
        for _ in range(ROUNDS):
            for variant in ("without", "with"):
                level += 0.5
                for raw in raws:
                    sim.control("POST", "/_sim/set_spend", {"token": raw, "spend": level})
                if variant == "without":
                    sync.spend_record_applied = _record_nothing
                    sync.budget_alerts_check = lambda rows, now=None: []  # type: ignore[misc]
                try:
                    with QueryCounter() as counter:
                        started = time.perf_counter()
                        sync.keys_sync(server=server, client=client)
                        timings[variant].append(time.perf_counter() - started)
                finally:
                    sync.spend_record_applied, sync.budget_alerts_check = recording, checking
                queries[variant] = counter.count
        client.close()
    without, with_recording = min(timings["without"]), min(timings["with"])
    pages = math.ceil(SYNC_KEYS / PAGE_SIZE)
    print(
        f"spend_history_sync: keys={SYNC_KEYS} best_of={ROUNDS} without_s={without:.2f} with_s={with_recording:.2f} "
        f"ratio={with_recording / without:.2f} queries_without={queries['without']} queries_with={queries['with']} "
        f"pages={pages} history_rows={KeySpend.objects.count()} budget_alerts={BudgetAlert.objects.count()} "
        f"with_rounds_s={','.join(f'{t:.2f}' for t in timings['with'])} (goal ratio <= 1.2; queries bounded per page)",
        flush=True,
    )


def _record_nothing(applied: list[Any], *, at: Any) -> None:
    """The recording step replaced by nothing: the "without" variant."""
