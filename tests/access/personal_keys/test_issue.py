"""Issuing a person's key: made in LiteLLM, put into LibreChat, verified; each step once."""

from __future__ import annotations

import json

import pytest

from integrations.litellm.client import hash_token
from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import (
    chat_key_value,
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
)
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db


def test_it_issues_pushes_and_verifies_the_key_once_the_librechat_account_is_ready(
    litellm_sim, chat_sim
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = PersonalKey.objects.get(person=person)  # started by the account becoming ready
    assert record.step == "issue" and record.plan == pairing.default_plan

    record = drive(record)

    assert record.step == "" and record.status == "ready", record.last_error
    keys = litellm_keys_of(litellm_sim, person)
    assert len(keys) == 1
    row = keys[0]
    assert row["key_alias"] == f"portal-person-{person.pk}"
    assert row["user_id"] == person.email
    assert row["metadata"]["managed_by"] == "portal" and row["metadata"]["portal_person_id"] == person.pk
    assert row["models"] == ["gpt-4o-mock"] and row["max_budget"] == 10.0 and row["expires"] is not None
    pushed = json.loads(chat_key_value(chat_sim, person.email) or "{}")
    assert hash_token(pushed["apiKey"]) == row["token"]
    key = key_of(record)
    assert key.raw_key is not None and key.raw_key.reveal() == pushed["apiKey"]
    assert key.expires is not None and record.pushed_at and record.verified_at
    assert record.chat_expires_at.startswith(key.expires.strftime("%Y-%m-%d"))
    # Rotation is due by the plan (90 days) and, at the latest, a week before the key expires.
    assert record.rotation_due_at is not None and record.rotation_due_at < key.expires


def test_it_makes_no_second_key_when_litellm_answered_but_the_answer_was_lost(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    litellm_sim.lose_answer_after_write = 1  # /key/generate is written, its answer never arrives

    record = drive(PersonalKey.objects.get(person=person))

    assert record.status == "ready", record.last_error
    assert len(litellm_keys_of(litellm_sim, person)) == 1
    assert litellm_sim.calls[("POST", "/key/generate")] == 1


def test_it_waits_and_retries_when_litellm_is_down_after_librechat_is_ready(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    litellm_sim.stop()
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person), limit=1)
    assert record.step == "issue" and record.attempts == 1 and record.status == "working"
    assert "LiteLLM" in record.last_error
    key_id = record.key_id
    assert key_id is not None  # recorded before LiteLLM was asked

    litellm_sim.start()
    record = drive(record)

    assert record.status == "ready" and record.key_id == key_id
    assert len(litellm_keys_of(litellm_sim, person)) == 1


def test_it_pushes_again_without_a_second_key_when_librechat_is_down_after_the_key_was_made(
    litellm_sim, chat_sim
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person), until=lambda r: r.step == "push")
    chat_sim.stop()
    record = drive(record, limit=2)
    assert record.step == "push" and record.attempts == 2 and record.status == "working"

    chat_sim.start()
    record = drive(record)

    assert record.status == "ready", record.last_error
    assert litellm_sim.calls[("POST", "/key/generate")] == 1
    assert len(litellm_keys_of(litellm_sim, person)) == 1
    assert chat_key_value(chat_sim, person.email) is not None


def test_it_needs_attention_with_litellm_words_when_the_key_is_refused(litellm_sim, chat_sim) -> None:
    User.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    litellm_sim.add_key(key_alias=f"portal-person-{person.pk}")  # the alias is taken already

    record = drive(PersonalKey.objects.get(person=person))

    assert record.status == "needs_attention" and record.step == "issue" and record.key_id is None
    assert "already exists" in record.last_error
    outbox = deliver_queued_mail()
    assert [m.subject for m in outbox] == [f"The AI key of {person.email} needs attention"]
    assert "already exists" in outbox[0].body and outbox[0].to == ["ops@example.com"]
