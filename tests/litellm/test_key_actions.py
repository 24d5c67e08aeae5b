"""Block, unblock, change, refresh, delete and rotate: LiteLLM first, the row after."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from integrations.litellm import key_work, keys, limits
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from tests.litellm.conftest import stored_key
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(server: LiteLLMServer, sim: LiteLLMSimulator) -> VirtualKey:
    created = keys.key_create(
        server=server,
        alias="team-search",
        owner="ana",
        limits=limits.KeyLimits(allowed_models=["gpt-4o-mock"], max_budget=Decimal("10"), rpm_limit=30),
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=created.pk)
    created.refresh_from_db()
    assert created.status == KeyStatus.ACTIVE
    return created


def apply(key: VirtualKey) -> key_work.ActionOutcome:
    outcome = key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    return outcome


def chat(sim: LiteLLMSimulator, raw: str) -> int:
    response = requests.post(
        sim.base_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {raw}"},
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    return response.status_code


def test_it_blocks_and_unblocks(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    keys.key_block(key=key, enqueue=False)
    assert apply(key).ok is True
    assert key.blocked is True and stored_key(sim, key.token_hash)["blocked"] is True
    keys.key_unblock(key=key, enqueue=False)
    assert apply(key).ok is True
    assert key.blocked is False and stored_key(sim, key.token_hash)["blocked"] is False


def test_it_changes_the_row_only_after_litellm_accepted(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    sim.stop()
    keys.key_update_limits(key=key, changes={"max_budget": 20, "rpm_limit": 90}, enqueue=False)
    assert apply(key).ok is None  # not yet: LiteLLM is down
    assert key.max_budget == Decimal("10") and key.rpm_limit == 30 and key.pending_action == "update"
    sim.start()
    VirtualKey.objects.filter(pk=key.pk).update(next_attempt_at=None)
    assert apply(key).ok is True
    assert key.max_budget == Decimal("20") and key.rpm_limit == 90 and key.pending_action == ""
    assert stored_key(sim, key.token_hash)["max_budget"] == 20.0


def test_it_reports_a_refused_change_and_keeps_the_row(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    sim.add_key(key_alias="taken")
    keys.key_update_limits(key=key, changes={"key_alias": "taken"}, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is False and "already exists" in outcome.detail
    assert key.key_alias == "team-search" and key.pending_action == ""


def test_it_refreshes_spend(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    sim.set_spend(key.token_hash or "", 12.5)
    keys.key_refresh(key=key, enqueue=False)
    assert apply(key).ok is True
    assert key.spend == Decimal("12.5")
    assert VirtualKey.objects.filter(pk=key.pk, over_budget=True).exists()


def test_it_deletes_and_a_second_delete_is_harmless(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    keys.key_delete(key=key, enqueue=False)
    assert apply(key).ok is True
    assert key.status == KeyStatus.DELETED and sim.get_key(key.token_hash or "") is None
    with pytest.raises(ValueError):
        keys.key_block(key=key, enqueue=False)


def test_it_refuses_a_second_action_while_one_is_pending(key: VirtualKey) -> None:
    keys.key_block(key=key, enqueue=False)
    with pytest.raises(ValueError, match="still busy"):
        keys.key_delete(key=key, enqueue=False)


def test_it_marks_a_key_litellm_lost_as_missing(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    requests.post(
        sim.base_url + "/key/delete",
        headers={"Authorization": f"Bearer {sim.master_key}"},
        json={"keys": [key.token_hash]},
        timeout=5,
    )
    keys.key_block(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is False and key.status == KeyStatus.MISSING


def test_it_rotates_without_the_enterprise_regenerate(key: VirtualKey, sim: LiteLLMSimulator) -> None:
    old_hash = key.token_hash
    keys.key_rotate(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is True, outcome.detail
    assert key.token_hash != old_hash and key.rotation_step == "" and key.rotated_at is not None
    assert sim.get_key(old_hash or "") is None  # the old key is gone
    new = stored_key(sim, key.token_hash)
    assert new["key_alias"] == "team-search"  # the new key took the old alias
    assert new["models"] == ["gpt-4o-mock"] and new["max_budget"] == 10.0 and new["rpm_limit"] == 30
    assert sim.calls[("POST", "/key/regenerate")] == 0
    raw = keys.key_reveal(key=key)  # the new key is shown once
    assert raw is not None and hash_token(raw) == key.token_hash
    assert chat(sim, raw) == 200


def test_a_rotation_interrupted_after_the_swap_leaves_one_working_key_and_resumes(
    key: VirtualKey, sim: LiteLLMSimulator
) -> None:
    old_hash = key.token_hash
    # The generate's answer is lost (recovered by hash), then the delete's answer is lost too.
    sim.set_faults(lose_answer_after_write=2)
    keys.key_rotate(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is None  # will be retried
    assert key.rotation_step == "delete" and key.pending_action == "rotate"
    assert key.token_hash != old_hash and key.rotation_old_hash == old_hash
    assert sim.get_key(key.token_hash or "") is not None  # the row names a key that exists
    VirtualKey.objects.filter(pk=key.pk).update(next_attempt_at=None)
    assert apply(key).ok is True
    assert (
        sim.get_key(old_hash or "") is None and stored_key(sim, key.token_hash)["key_alias"] == "team-search"
    )
    assert sim.key_count() == 1


def test_a_rotation_whose_replacement_is_refused_keeps_the_old_key(
    key: VirtualKey, sim: LiteLLMSimulator
) -> None:
    old_hash = key.token_hash
    sim.configure(master_key="sk-someone-changed-the-master-key-000")
    keys.key_rotate(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is False
    assert key.token_hash == old_hash and key.rotation_step == "" and key.rotation_new_key is None
    assert sim.get_key(old_hash or "") is not None and sim.key_count() == 1
