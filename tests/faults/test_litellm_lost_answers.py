"""100 keys whose answer LiteLLM lost after writing them, 100 more while LiteLLM was down:
after recovery and the next sync, LiteLLM's keys and the portal's are the same set, each once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from integrations.litellm import keys, tasks
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal.core.queues import network_queue_name
from tests.faults.beat import litellm_tick, tick_until
from tests.faults.conftest import NETWORK
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MASTER = "sk-faults-master-0123456789abcdef"
EACH = 100


def test_it_keeps_litellm_and_the_portal_in_step_through_lost_answers_and_an_outage(
    start_worker: Callable[..., CeleryWorker], redis_url: str, proof_line: Callable[[str], None]
) -> None:
    sim = LiteLLMSimulator(master_key=MASTER, seed=11)
    sim.start()
    try:
        server = LiteLLMServer(name="litellm-faults", base_url=sim.base_url, network=NETWORK)
        server.master_key = MASTER
        server.save()
        worker = start_worker()
        started = time.monotonic()
        queue = network_queue_name(NETWORK)

        sim.set_faults(lose_answer_after_write=EACH)  # each key is written, then the answer is lost
        lost = [keys.key_create(server=server, alias=f"lost-{i}") for i in range(EACH)]
        tick_until(
            lambda: (
                not VirtualKey.objects.filter(pk__in=[k.pk for k in lost]).exclude(pending_action="").exists()
            ),
            lambda: litellm_tick(broker_url=redis_url, queue=queue),
            timeout=60,
            log=worker.log,
        )
        sim.clear_faults()

        port = sim.port
        sim.stop()
        down = [keys.key_create(server=server, alias=f"down-{i}") for i in range(EACH)]
        deadline = time.monotonic() + 30
        while VirtualKey.objects.filter(pk__in=[k.pk for k in down], attempts=0).exists():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        assert sim.key_count() == EACH

        sim.start()
        assert sim.port == port
        tick_until(
            lambda: not VirtualKey.objects.exclude(pending_action="").exists(),
            lambda: litellm_tick(broker_url=redis_url, queue=queue),
            timeout=60,
            log=worker.log,
        )
        sync = tasks.server_sync.apply_async(kwargs={"server_id": server.pk}, queue=queue).get(timeout=60)
        wall = time.monotonic() - started

        rows = [
            (token or "", status)
            for token, status in VirtualKey.objects.filter(server=server).values_list("token_hash", "status")
        ]
        portal = Counter(token for token, _ in rows)
        assert len(rows) == 2 * EACH and max(portal.values()) == 1
        assert {status for _, status in rows} == {KeyStatus.ACTIVE}
        assert sim.key_count() == 2 * EACH
        assert all(sim.get_key(token) is not None for token in portal)
        proof_line(
            f"faults: litellm_keys lost_answers={EACH} while_down={EACH} litellm={sim.key_count()} "
            f"portal={len(portal)} duplicates={sum(n - 1 for n in portal.values())} sync_adopted={sync['adopted']} sync_missing={sync['missing']} wall={wall:.1f}s"
        )
    finally:
        sim.stop()
