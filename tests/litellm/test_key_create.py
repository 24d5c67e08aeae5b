"""Creating a key loses nothing: the portal makes the raw key, sends it as `key`, and
recovers a lost answer by asking LiteLLM for that hash (contract §1, §2.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.litellm import key_work, keys, limits
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyPlan, KeyStatus, LiteLLMServer, VirtualKey
from tests.litellm.conftest import stored_key
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


def create(server: LiteLLMServer, **kwargs: object) -> VirtualKey:
    kwargs.setdefault("alias", "ci-bot")
    key = keys.key_create(server=server, enqueue=False, **kwargs)  # type: ignore[arg-type]
    outcome = key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    assert outcome.key_id == key.pk
    return key


def test_it_sends_the_portal_made_key_and_keeps_only_the_hash_after_the_reveal(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    wanted = limits.KeyLimits(allowed_models=["gpt-4o-mock"], max_budget=Decimal("10"), rpm_limit=60)
    key = create(server, owner="ana@example.com", limits=wanted)
    assert key.status == KeyStatus.ACTIVE and key.last_action_ok is True
    stored = stored_key(sim, key.token_hash)
    assert stored is not None and stored["key_alias"] == "ci-bot"
    assert stored["models"] == ["gpt-4o-mock"] and stored["max_budget"] == 10.0 and stored["rpm_limit"] == 60
    assert stored["user_id"] == "ana@example.com"
    raw = keys.key_reveal(key=key)
    assert raw is not None and hash_token(raw) == key.token_hash and len(raw) >= 35
    assert key.key_name == f"sk-...{raw[-4:]}"
    key.refresh_from_db()
    assert key.raw_key is None and key.revealed_at is not None
    assert keys.key_reveal(key=key) is None  # exactly once


def test_it_always_sends_the_full_metadata_marker(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = create(server, metadata={"team": "search"})
    metadata = stored_key(sim, key.token_hash)["metadata"]
    assert metadata["managed_by"] == "portal" and metadata["portal_key_id"] == key.pk
    assert metadata["team"] == "search"
    # /key/update replaces metadata wholesale (§2.2): a change keeps the marker.
    keys.key_update_limits(key=key, changes={"rpm_limit": 5}, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    metadata = stored_key(sim, key.token_hash)["metadata"]
    assert metadata["managed_by"] == "portal" and metadata["team"] == "search"


def test_it_recovers_an_answer_lost_after_litellm_wrote_the_key(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    sim.set_faults(lose_answer_after_write=1)
    key = create(server)
    assert key.status == KeyStatus.ACTIVE and key.last_action_ok is True
    assert sim.key_count() == 1  # written once, found by its hash, not created twice
    assert sim.calls[("POST", "/key/generate")] == 1
    assert sim.calls[("GET", "/key/info")] >= 1


def test_it_retries_later_when_litellm_is_down(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    sim.stop()
    key = create(server)
    assert key.status == KeyStatus.CREATING and key.pending_action == "create"
    assert key.last_action_ok is None and "refused" in key.last_action_detail.lower()
    assert key.next_attempt_at is not None and key.next_attempt_at > timezone.now()
    assert key.raw_key is not None  # kept (encrypted) until LiteLLM has it
    assert key_work.keys_due(now=key.next_attempt_at) == [(key.pk, "net.backend-dev")]
    sim.start()
    VirtualKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now())
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    assert key.status == KeyStatus.ACTIVE and sim.get_key(key.token_hash or "") is not None


def test_it_fails_clearly_on_a_duplicate_alias_and_drops_the_raw_key(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    sim.add_key(key_alias="ci-bot")
    key = create(server)
    assert key.status == KeyStatus.FAILED and key.last_action_ok is False
    assert "already exists" in key.last_action_detail
    assert key.raw_key is None and key.pending_action == ""
    assert keys.key_reveal(key=key) is None


def test_it_keeps_the_raw_key_encrypted_only_when_it_must_be_handed_on(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = create(server, keep_secret=True)
    raw = keys.key_reveal(key=key)
    key.refresh_from_db()
    assert raw is not None and key.raw_key is not None and key.raw_key.reveal() == raw
    assert keys.key_reveal(key=key) is None  # still shown only once
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT raw_key FROM litellm_virtualkey WHERE id = %s", [key.pk])
        assert raw not in cursor.fetchone()[0]  # encrypted at rest


def test_it_takes_the_plan_values_as_defaults(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    plan = KeyPlan.objects.create(
        name="staff",
        allowed_models=["claude-mock"],
        max_budget=Decimal("25"),
        budget_duration="30d",
        key_duration="90d",
    )
    key = create(server, plan=plan)
    stored = stored_key(sim, key.token_hash)
    assert stored["models"] == ["claude-mock"] and stored["max_budget"] == 25.0
    assert stored["budget_duration"] == "30d" and stored["expires"] is not None
    assert key.expires is not None and (key.expires - timezone.now()).days in (89, 90)
    assert key.plan == plan and stored_key(sim, key.token_hash)["metadata"]["portal_plan"] == "staff"


def test_it_never_puts_the_raw_key_into_a_task_argument_or_result(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = keys.key_create(server=server, alias="x", enqueue=False)
    raw = key.raw_key.reveal()
    result = key_work.key_apply_pending(key_id=key.pk).as_result()
    assert raw not in repr(result) and set(result) == {"key_id", "action", "ok", "detail"}
