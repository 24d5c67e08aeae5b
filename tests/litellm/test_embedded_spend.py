"""Spend history, budget alerts and the Spend page's totals on the embedded default (`make run`
on SQLite), not only on PostgreSQL: the walk of session 5 found every sync with spend failing
there ("Error binding parameter 1: type 'list' is not supported": unnest() of arrays is
PostgreSQL's). The sync runs in a management shell on make run's own database, against the
LiteLLM simulator over a real socket."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.makerun import MakeRun
from tests.simulators.litellm import LiteLLMSimulator

MASTER = "sk-embedded-spend-master-0123456789"

SCRIPT = """
import json, requests
from integrations.litellm import spend_windows, sync
from integrations.litellm.client import LiteLLMClient
from integrations.litellm.models import BudgetAlert, KeySpend, KeySpendWindow, LiteLLMServer, SpendGrain

URL, MASTER, RAW = {url!r}, {master!r}, {raw!r}
server = LiteLLMServer(name="embedded-spend", base_url=URL, network="backend-dev")
server.master_key = MASTER
server.save()
client = LiteLLMClient(base_url=URL, master_key=MASTER)
sync.keys_sync(server=server, client=client)  # adopts the key: its baseline
for spend in (0.85, 1.0, 1.0):  # crosses 80 %, then 100 %, then a re-run that sees nothing new
    requests.post(URL + "/_sim/set_spend", json={{"token": RAW, "spend": spend}}, headers={{"Authorization": "Bearer " + MASTER}}, timeout=5).raise_for_status()
    sync.keys_sync(server=server, client=client)
sync.keys_sync(server=server, client=client)
spend_windows.spend_windows_refresh()
rows = KeySpend.objects.filter(key__server=server)
print("RESULT " + json.dumps({{
    "hourly": str(sum(r.amount for r in rows.filter(grain=SpendGrain.HOUR))),
    "daily": str(sum(r.amount for r in rows.filter(grain=SpendGrain.DAY))),
    "alerts": sorted(BudgetAlert.objects.filter(key__server=server).values_list("threshold", flat=True)),
    "window_30": [str(a) for a in KeySpendWindow.objects.filter(key__server=server, days=30).values_list("amount", flat=True)],
    "sync_status": LiteLLMServer.objects.get(pk=server.pk).sync_status,
}}))
"""


@pytest.fixture
def sim() -> Iterator[LiteLLMSimulator]:
    with LiteLLMSimulator(master_key=MASTER) as simulator:
        yield simulator


def test_a_sync_on_the_embedded_default_records_spend_alerts_once_and_sums_the_totals(
    make_run: MakeRun, sim: LiteLLMSimulator
) -> None:
    (raw,) = sim.seed_keys(1, max_budget=1.0, key_alias="embedded-{i}")
    try:
        done = make_run.manage("shell", "-c", SCRIPT.format(url=sim.base_url, master=MASTER, raw=raw))
    except subprocess.CalledProcessError as failed:
        pytest.fail(f"the sync failed on the embedded default:\n{failed.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert float(result["hourly"]) == pytest.approx(1.0) and float(result["daily"]) == pytest.approx(1.0)
    assert result["alerts"] == ["100", "80"]  # once each, however often the sync runs
    assert [float(a) for a in result["window_30"]] == [pytest.approx(1.0)]
    assert "failed" not in (result["sync_status"] or "").lower()
