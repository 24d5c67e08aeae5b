"""Sync: pages through /key/list (created_at ascending), adopts, refreshes, marks missing;
idempotent, with a bounded number of list calls and queries."""

from __future__ import annotations

import io
import math

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.litellm import key_work, keys, sync
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyOrigin, KeyStatus, LiteLLMModel, LiteLLMServer, VirtualKey
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


def test_it_adopts_keys_found_only_in_litellm(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    raws = sim.seed_keys(250, key_alias="app-{i}", user_id="svc", max_budget=3.0)
    report = sync.keys_sync(server=server)
    assert report.list_calls == math.ceil(250 / 100) and report.adopted == 250
    assert sim.calls[("GET", "/key/list")] == 3
    rows = VirtualKey.objects.filter(server=server)
    assert rows.count() == 250 and set(rows.values_list("origin", flat=True)) == {KeyOrigin.FOUND}
    first = rows.get(token_hash=hash_token(raws[0]))
    assert first.key_alias == "app-0" and first.owner == "svc" and first.status == KeyStatus.ACTIVE
    assert first.raw_key is None  # a found key is known by its hash only
    assert set(LiteLLMModel.objects.filter(server=server).values_list("model_name", flat=True)) == {
        "gpt-4o-mock",
        "claude-mock",
    }


def test_it_is_idempotent(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    sim.seed_keys(120)
    sync.keys_sync(server=server)
    again = sync.keys_sync(server=server)
    assert again.adopted == 0 and again.updated == 0 and again.missing == 0
    assert VirtualKey.objects.count() == 120


def test_it_refreshes_spend_blocked_and_limits(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    (raw,) = sim.seed_keys(1, key_alias="one")
    sync.keys_sync(server=server)
    sim.set_spend(raw, 4.25)
    sim.update_key_fields(raw, blocked=True, rpm_limit=12, max_budget=4.0)
    report = sync.keys_sync(server=server)
    assert report.updated == 1
    row = VirtualKey.objects.get(token_hash=hash_token(raw))
    assert (float(row.spend), row.blocked, row.rpm_limit) == (4.25, True, 12)
    assert VirtualKey.objects.filter(pk=row.pk, over_budget=True).exists()


def test_it_marks_portal_keys_missing_from_litellm(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = keys.key_create(server=server, alias="gone", enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    requests.post(
        sim.base_url + "/key/delete",
        headers={"Authorization": f"Bearer {sim.master_key}"},
        json={"keys": [key.token_hash]},
        timeout=5,
    )
    report = sync.keys_sync(server=server)
    key.refresh_from_db()
    assert report.missing == 1 and key.status == KeyStatus.MISSING


def test_it_leaves_a_key_made_during_the_sync_alone(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    # A key still being created is not listed yet; it must not be marked missing.
    key = keys.key_create(server=server, alias="new", enqueue=False)
    sync.keys_sync(server=server)
    key.refresh_from_db()
    assert key.status == KeyStatus.CREATING and key.pending_action == "create"


def test_it_does_not_adopt_a_rotation_replacement_in_flight(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = keys.key_create(server=server, alias="rot", enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    sim.set_faults(lose_answer_after_write=2)  # stops the rotation after its swap
    keys.key_rotate(key=key, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    sim.clear_faults()
    sync.keys_sync(server=server)
    assert VirtualKey.objects.count() == 1


def test_its_cost_grows_with_pages_not_keys(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    sim.seed_keys(100)
    with CaptureQueriesContext(connection) as one_page:
        sync.keys_sync(server=server)
    VirtualKey.objects.all().delete()
    sim.reset()
    sim.seed_keys(500)
    with CaptureQueriesContext(connection) as five_pages:
        report = sync.keys_sync(server=server)
    assert report.list_calls == 5
    per_page = (len(five_pages) - len(one_page)) / 4
    assert per_page <= 6, [q["sql"][:80] for q in five_pages.captured_queries]


def test_the_command_syncs_in_this_process(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    sim.seed_keys(3)
    out = io.StringIO()
    call_command("litellm_sync", "--here", stdout=out)
    assert "3 keys seen in 1 list calls: 3 adopted" in out.getvalue()


def test_one_sync_per_server_at_a_time(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    from django.core.cache import cache

    from integrations.litellm import tasks

    cache.add(f"litellm:sync:{server.pk}", "1", timeout=60)
    try:
        result = tasks.server_sync(server.pk)
    finally:
        cache.delete(f"litellm:sync:{server.pk}")
    assert result["detail"] == "a sync of this server is already running"
    assert sim.calls[("GET", "/key/list")] == 0
    assert tasks.server_sync(server.pk)["ok"] is True
