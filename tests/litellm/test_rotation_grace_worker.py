"""A staff key's grace period through real workers and the beat's hand-out: a worker killed in
the middle of settling changes nothing about the budget."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal

from django.utils import timezone

from integrations.litellm import key_work, keys, limits, tasks
from integrations.litellm.models import LiteLLMServer, VirtualKey
from tests.litellm.conftest import stored_key
from tests.litellm.test_rotation_budget import PER_CALL, chat
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, wait_for


def row(key: VirtualKey) -> VirtualKey:
    return VirtualKey.objects.get(pk=key.pk)


def test_a_worker_killed_while_settling_a_grace_period_leaves_the_budget_whole(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, start_worker: Callable[[], CeleryWorker]
) -> None:
    sim.configure(spend_per_call=PER_CALL)
    LiteLLMServer.objects.filter(pk=tx_server.pk).update(rotation_grace_minutes=30)
    key = keys.key_create(
        server=tx_server,
        alias="ci-bot",
        limits=limits.KeyLimits(max_budget=Decimal("10"), budget_duration="30d"),
        keep_secret=True,
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    assert key.raw_key is not None
    old_raw, old_hash = key.raw_key.reveal(), key.token_hash or ""
    sim.set_spend(old_hash, 9.5)
    reset_at = stored_key(sim, old_hash)["budget_reset_at"]

    first = start_worker()
    keys.key_rotate(key=key)  # woken on commit, on the server's network queue
    wait_for(lambda: row(key).rotation_step == "grace" and row(key).pending_action == "", first)
    assert chat(sim, old_raw) == 200  # the old key works on, 0.125 spent on it

    # Time passes: the grace period is over. The beat hands the rotation out; LiteLLM is slow,
    # and the worker dies in the middle of settling (blocking, reading, adding the spend).
    VirtualKey.objects.filter(pk=key.pk).update(
        rotation_retire_at=timezone.now() - dt.timedelta(seconds=1), next_attempt_at=timezone.now()
    )
    sim.latency = 1.0
    assert tasks.rotations_in_grace_due() == 1  # the beat entry, run as beat runs it
    wait_for(lambda: sim.calls[("POST", "/key/block")] >= 1, first)
    time.sleep(1.5)
    first.kill()  # SIGKILL: the claim stays on the row
    sim.latency = 0.0
    assert row(key).rotation_step == "settle"

    # The dead worker's lease runs out; the retry beat hands the key action to a new worker.
    VirtualKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now())
    second = start_worker()
    assert tasks.keys_due() == 1  # the beat entry "litellm: retry due key actions"
    wait_for(lambda: row(key).rotation_step == "" and row(key).last_action_ok is True, second)

    done = row(key)
    new = stored_key(sim, done.token_hash)
    assert sim.get_key(old_hash) is None and chat(sim, old_raw) != 200
    assert new["spend"] == 9.5 + PER_CALL and new["max_budget"] == 10.0  # counted once, budget whole
    assert new["budget_reset_at"] == reset_at and new["key_alias"] == "ci-bot"
    assert done.spend == Decimal("9.625") and done.max_budget == Decimal("10")
