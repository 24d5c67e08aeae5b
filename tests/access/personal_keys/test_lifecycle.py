"""A person's key follows the person: suspended, reactivated, deleted, moved to another plan."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.librechat.models import LibreChatSession
from integrations.litellm import keys
from integrations.litellm.models import KeyPlan, VirtualKey
from portal.access import personal_keys
from portal.access.models import PersonalKey, PersonRemoval
from portal.access.removal import person_removal_advance
from tests.access.personal_keys.support import (
    drive,
    key_of,
    make_pairing,
    make_ready_person,
)

pytestmark = pytest.mark.django_db


def issued(litellm_sim, chat_sim):
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    assert record.status == "ready", record.last_error
    return person, record


def test_it_blocks_the_key_and_revokes_the_session_when_the_person_is_deactivated(
    litellm_sim, chat_sim
) -> None:
    person, record = issued(litellm_sim, chat_sim)
    person.is_active = False
    person.save()

    record = drive(record)

    assert record.suspended and key_of(record).blocked
    assert litellm_sim.get_key(key_of(record).token_hash)["blocked"] is True
    assert not LibreChatSession.objects.filter(account__person=person, revoked_at__isnull=True).exists()


def test_it_unblocks_the_key_when_the_person_is_reactivated(litellm_sim, chat_sim) -> None:
    person, record = issued(litellm_sim, chat_sim)
    person.is_active = False
    person.save()
    drive(record)
    person.is_active = True
    person.save()

    record = drive(record)

    assert not record.suspended and not key_of(record).blocked
    assert litellm_sim.get_key(key_of(record).token_hash)["blocked"] is False


def test_it_deletes_the_key_and_the_librechat_account_when_the_person_is_deleted(
    litellm_sim, chat_sim
) -> None:
    person, record = issued(litellm_sim, chat_sim)
    token_hash = key_of(record).token_hash
    email = person.email
    person.delete()

    removal = PersonRemoval.objects.get(email=email)
    assert removal.key_hashes == [token_hash] and removal.librechat_password is not None
    assert VirtualKey.objects.get(token_hash=token_hash).raw_key is None  # the secret goes at once
    person_removal_advance(removal_id=removal.pk)  # LiteLLM's queue
    person_removal_advance(removal_id=removal.pk)  # LibreChat's queue

    removal.refresh_from_db()
    assert removal.status == "done", removal.detail
    assert litellm_sim.get_key(token_hash) is None and litellm_sim.get_deleted_key(token_hash) is not None
    assert chat_sim.user(email) is None
    assert removal.librechat_password is None


def test_it_tells_staff_to_run_delete_user_where_librechat_forbids_account_deletion(
    litellm_sim, chat_sim
) -> None:
    person, _ = issued(litellm_sim, chat_sim)
    chat_sim.configure(allow_account_deletion=False)
    email = person.email
    person.delete()
    removal = PersonRemoval.objects.get(email=email)
    person_removal_advance(removal_id=removal.pk)
    person_removal_advance(removal_id=removal.pk)

    removal.refresh_from_db()
    assert removal.status == "staff"
    assert f"npm run delete-user {email}" in removal.detail and "ALLOW_ACCOUNT_DELETION" in removal.detail
    assert removal.librechat_password is None
    assert chat_sim.user(email) is not None


def test_it_applies_the_new_plans_limits_when_the_plan_changes(litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    bigger = KeyPlan.objects.create(
        name="research", allowed_models=[], max_budget=Decimal("50"), rpm_limit=600
    )

    personal_keys.personal_key_plan_change(record=record, plan=bigger)
    record = drive(record)

    row = litellm_sim.get_key(key_of(record).token_hash)
    assert row["max_budget"] == 50.0 and row["rpm_limit"] == 600 and row["models"] == []
    assert row["metadata"]["portal_person_id"] == record.person_id  # the marker survives /key/update
    assert record.limits_applied and key_of(record).plan == bigger


def test_it_does_not_touch_a_key_another_action_is_pending_on(litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    keys.key_refresh(key=record.key, enqueue=False)
    PersonalKey.objects.filter(pk=record.pk).update(suspended=True)
    personal_keys.personal_key_kick(record=record)
    record = drive(record)
    assert key_of(record).blocked  # the refresh ran first, then the block


def test_it_does_not_sign_in_as_a_person_deactivated_before_the_push_and_pushes_on_return(
    litellm_sim, chat_sim
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person), until=lambda r: r.step == "push")
    person.is_active = False
    person.save()
    logins = chat_sim.calls[("POST", "/api/auth/login")]

    record = drive(record)

    assert key_of(record).blocked and record.pushed_at is None and record.step == ""
    assert chat_sim.user_keys(person.email) == {}
    assert chat_sim.calls[("POST", "/api/auth/login")] == logins
    assert not LibreChatSession.objects.filter(account__person=person, revoked_at__isnull=True).exists()

    person.is_active = True
    person.save()
    record = drive(record)

    assert not key_of(record).blocked and record.pushed_at is not None and record.status == "ready"
    assert "LiteLLM" in chat_sim.user_keys(person.email)


def test_it_retries_the_librechat_account_deletion_while_librechat_is_down(litellm_sim, chat_sim) -> None:
    person, _ = issued(litellm_sim, chat_sim)
    email = person.email
    person.delete()
    removal = PersonRemoval.objects.get(email=email)
    person_removal_advance(removal_id=removal.pk)  # keys deleted
    chat_sim.stop()

    assert person_removal_advance(removal_id=removal.pk).detail.startswith("retry:")
    removal.refresh_from_db()
    assert removal.status == "working" and removal.attempts == 1 and removal.librechat_password is not None

    chat_sim.start()
    person_removal_advance(removal_id=removal.pk)
    removal.refresh_from_db()
    assert removal.status == "done" and chat_sim.user(email) is None
