"""Limits changed in LiteLLM behind the portal's back: the sync keeps ours and records theirs
as drift; "restore ours" tells LiteLLM again (through key_work), "accept LiteLLM's" takes
theirs. Last use comes from LiteLLM's last_active only. Against the simulator, over HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from integrations.litellm import drift, key_work, keys, sync
from integrations.litellm.client import KeyInfo
from integrations.litellm.limits import KeyLimits
from integrations.litellm.models import LiteLLMServer, VirtualKey
from tests.litellm.conftest import MASTER, stored_key
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


def made_key(server: LiteLLMServer, **limits: object) -> VirtualKey:
    """A key the portal made, told to LiteLLM."""
    wanted = KeyLimits.from_values(
        {"max_budget": Decimal("10"), "budget_duration": "30d", "allowed_models": ["gpt-4o-mock"], **limits}
    )
    key = keys.key_create(server=server, alias="team-bot", owner="ana", limits=wanted, enqueue=False)
    assert key_work.key_apply_pending(key_id=key.pk).ok is True
    key.refresh_from_db()
    return key


def by_hand(sim: LiteLLMSimulator, key: VirtualKey, **fields: object) -> None:
    """Somebody changes the key in LiteLLM directly (its UI or API), not through the portal."""
    response = requests.post(
        sim.base_url + "/key/update",
        json={"key": key.token_hash, **fields},
        headers={"Authorization": f"Bearer {MASTER}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_a_budget_changed_in_litellm_is_drift_and_ours_stays(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(server)
    by_hand(sim, key, max_budget=20)

    report = sync.keys_sync(server=server)

    assert report.drifted == 1 and "1 with limits changed in LiteLLM" in str(report)
    key.refresh_from_db()
    assert key.max_budget == Decimal("10")  # ours, not silently replaced
    assert key.drift_found_at is not None
    assert [str(d) for d in drift.drift_differences(key)] == ["max budget: ours 10, LiteLLM's 20"]
    assert drift.key_enforced_limits(key).max_budget == Decimal("20")
    assert VirtualKey.objects.filter(drift_found_at__isnull=False).count() == 1


def test_models_and_rate_limits_drift_too_but_a_reordered_list_does_not(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(server, allowed_models=["gpt-4o-mock", "claude-mock"], rpm_limit=60)
    by_hand(sim, key, models=["claude-mock", "gpt-4o-mock"])
    sync.keys_sync(server=server)
    key.refresh_from_db()
    assert key.drift_found_at is None

    by_hand(sim, key, models=["claude-mock"], rpm_limit=1000)
    sync.keys_sync(server=server)
    key.refresh_from_db()
    assert {d.name for d in drift.drift_differences(key)} == {"allowed_models", "rpm_limit"}
    assert key.allowed_models == ["gpt-4o-mock", "claude-mock"] and key.rpm_limit == 60


def test_restore_ours_tells_litellm_only_what_differs(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = made_key(server)
    reset_at = stored_key(sim, key.token_hash)["budget_reset_at"]
    by_hand(sim, key, max_budget=20)
    sync.keys_sync(server=server)
    key.refresh_from_db()

    assert drift.key_restore_ours(key=key, enqueue=False) == ["max_budget"]
    assert key_work.key_apply_pending(key_id=key.pk).ok is True

    litellm = stored_key(sim, key.token_hash)
    assert litellm["max_budget"] == 10.0
    assert litellm["budget_reset_at"] == reset_at  # budget_duration not resent: the window holds
    key.refresh_from_db()
    assert key.drift_found_at is None and key.drift_limits == {}
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(pk=key.pk).drift_found_at is None


def test_accept_theirs_takes_litellms_values_without_a_call(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(server)
    by_hand(sim, key, max_budget=20, tpm_limit=5000)
    sync.keys_sync(server=server)
    key.refresh_from_db()
    updates_before = sim.calls[("POST", "/key/update")]

    assert sorted(drift.key_accept_theirs(key=key)) == ["max_budget", "tpm_limit"]

    key.refresh_from_db()
    assert (key.max_budget, key.tpm_limit, key.drift_found_at) == (Decimal("20"), 5000, None)
    assert sim.calls[("POST", "/key/update")] == updates_before
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(pk=key.pk).drift_found_at is None


def test_nothing_to_fix_is_said_in_words(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = made_key(server)
    with pytest.raises(ValueError, match="nothing to restore"):
        drift.key_restore_ours(key=key, enqueue=False)
    with pytest.raises(ValueError, match="nothing to accept"):
        drift.key_accept_theirs(key=key)


def test_a_portal_change_of_one_limit_leaves_another_drifted_limit_drift(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(server, rpm_limit=60)
    by_hand(sim, key, rpm_limit=1000)
    sync.keys_sync(server=server)
    key.refresh_from_db()

    keys.key_update_limits(key=key, changes={"max_budget": Decimal("12")}, enqueue=False)
    assert key_work.key_apply_pending(key_id=key.pk).ok is True

    key.refresh_from_db()
    assert key.max_budget == Decimal("12") and key.rpm_limit == 60
    assert [d.name for d in drift.drift_differences(key)] == ["rpm_limit"]


def test_a_listing_older_than_the_portals_own_last_change_is_no_drift(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    # A worker told LiteLLM something after this sync listed the page: the page is the older.
    key = made_key(server)
    by_hand(sim, key, max_budget=20)
    VirtualKey.objects.filter(pk=key.pk).update(last_action_at=timezone.now() + dt.timedelta(minutes=1))
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(pk=key.pk).drift_found_at is None

    VirtualKey.objects.filter(pk=key.pk).update(last_action_at=timezone.now() - dt.timedelta(minutes=1))
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(pk=key.pk).drift_found_at is not None


def test_refresh_keeps_ours_and_records_drift(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = made_key(server)
    by_hand(sim, key, max_budget=3)
    keys.key_refresh(key=key, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    assert key.max_budget == Decimal("10") and drift.key_enforced_limits(key).max_budget == Decimal("3")


def test_a_key_found_only_in_litellm_takes_its_limits_as_before(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    used = (timezone.now() - dt.timedelta(days=3)).replace(microsecond=0)
    (raw,) = sim.seed_keys(1, key_alias="found", max_budget=4.0, last_active=used)
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(key_alias="found").last_used_at == used  # adopted with its last use
    sim.update_key_fields(raw, max_budget=6.0)
    sync.keys_sync(server=server)
    row = VirtualKey.objects.get(key_alias="found")
    assert row.max_budget == Decimal("6") and row.drift_found_at is None


# --- last use ------------------------------------------------------------------------------


def chat(sim: LiteLLMSimulator, raw: str) -> None:
    response = requests.post(
        sim.base_url + "/v1/chat/completions",
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_last_use_is_litellms_last_active_not_its_updated_at(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(server, allowed_models=[])
    raw = key.raw_key.reveal() if key.raw_key else ""
    keys.key_update_limits(key=key, changes={"rpm_limit": 30}, enqueue=False)  # moves updated_at
    key_work.key_apply_pending(key_id=key.pk)
    sync.keys_sync(server=server)
    assert VirtualKey.objects.get(pk=key.pk).last_used_at is None

    chat(sim, raw)
    sync.keys_sync(server=server)

    used = VirtualKey.objects.get(pk=key.pk).last_used_at
    assert used is not None
    assert used.isoformat()[:19] == stored_key(sim, key.token_hash)["last_active"].isoformat()[:19]


def test_last_use_never_goes_back_to_never(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = made_key(server)
    chat(sim, key.raw_key.reveal() if key.raw_key else "")
    sync.keys_sync(server=server)
    key.refresh_from_db()
    used = key.last_used_at
    assert used is not None
    # A rotation's replacement is a key LiteLLM has not seen used yet.
    sync.key_apply_info(key, KeyInfo(token=key.token_hash or "", max_budget=10.0, budget_duration="30d"))
    assert key.last_used_at == used
