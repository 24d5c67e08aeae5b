"""The database is the source of truth for work in flight: a lost task message, or a
broker that was down, loses nothing; the beat job picks due rows up (real worker, Redis)."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from integrations.litellm import keys, tasks
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from tests.litellm.conftest import stored_key
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker


def wait_for(predicate: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_key_whose_message_was_lost_is_created_by_the_beat_job(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    # enqueue=False stands for the message that never reached the broker.
    key = keys.key_create(server=tx_server, alias="lost-message", enqueue=False)
    assert sim.key_count() == 0
    tasks.keys_due.apply_async(queue="default")
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE)
    assert stored_key(sim, key.token_hash)["key_alias"] == "lost-message"


def test_the_service_enqueues_on_commit_to_the_network_queue(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    key = keys.key_create(server=tx_server, alias="on-commit")
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE)
    keys.key_block(key=VirtualKey.objects.get(pk=key.pk))
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).blocked)
    assert stored_key(sim, key.token_hash)["blocked"] is True


def test_the_sync_command_runs_on_the_servers_network_queue(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    sim.seed_keys(4)
    out = io.StringIO()
    call_command("litellm_sync", "litellm-dev", stdout=out)
    assert "litellm-dev: 4 keys seen in 1 list calls: 4 adopted" in out.getvalue()
    tx_server.refresh_from_db()
    assert "4 adopted" in tx_server.sync_status


@pytest.mark.django_db
def test_the_sync_command_names_an_unknown_server() -> None:
    with pytest.raises(CommandError, match="no LiteLLM server named nope"):
        call_command("litellm_sync", "nope")
