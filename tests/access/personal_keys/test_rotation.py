"""Rotation without /key/regenerate: new key under a temporary alias, push, verify, delete the
old one, take the stable alias; a crash at any step resumes from the recorded step."""

from __future__ import annotations

import pytest

from integrations.litellm.client import hash_token
from portal.access import key_steps, personal_keys, reconcile
from portal.access.models import PersonalKey
from tests.access.personal_keys.support import (
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
    pushed_raw_key,
)

pytestmark = pytest.mark.django_db


def issued(litellm_sim, chat_sim):
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    assert record.status == "ready", record.last_error
    return person, record


def pushed_hash(chat_sim, person) -> str:
    return hash_token(pushed_raw_key(chat_sim, person.email))


def test_it_rotates_to_a_new_key_under_the_stable_alias_and_deletes_the_old_one(
    litellm_sim, chat_sim
) -> None:
    person, record = issued(litellm_sim, chat_sim)
    old_hash = key_of(record).token_hash

    personal_keys.personal_key_rotate(record=record)
    record = drive(record)

    assert record.step == "" and record.status == "ready", record.last_error
    keys = litellm_keys_of(litellm_sim, person)
    assert len(keys) == 1 and keys[0]["token"] != old_hash
    assert keys[0]["key_alias"] == f"portal-person-{person.pk}"
    assert litellm_sim.get_deleted_key(old_hash) is not None
    assert pushed_hash(chat_sim, person) == keys[0]["token"] == key_of(record).token_hash
    assert (
        record.rotated_at is not None
        and record.rotation_requested_at is None
        and key_of(record).rotation_step == ""
        and key_of(record).rotation_old_hash == ""
    )


def test_it_keeps_the_old_key_working_until_librechat_holds_the_new_one(litellm_sim, chat_sim) -> None:
    person, record = issued(litellm_sim, chat_sim)
    old_hash = key_of(record).token_hash
    personal_keys.personal_key_rotate(record=record)

    record = drive(record, until=lambda r: r.step == "rotate_push")
    # The one engine waits at its hand-over: the row names the new key, the old one works.
    new_hash = key_of(record).token_hash or ""
    assert key_of(record).rotation_step == "handover" and key_of(record).rotation_old_hash == old_hash
    assert ".rotating." in litellm_sim.get_key(new_hash)["key_alias"]  # the temporary alias
    assert pushed_hash(chat_sim, person) == old_hash  # LibreChat still has the working old key
    assert litellm_sim.get_key(old_hash) is not None

    chat_sim.stop()  # LibreChat down at the push: the old key stays, no third key appears
    record = drive(record, limit=2)
    assert record.step == "rotate_push" and litellm_sim.get_key(old_hash) is not None
    chat_sim.start()
    record = drive(record)
    assert record.status == "ready" and len(litellm_keys_of(litellm_sim, person)) == 1


def test_it_resumes_after_a_crash_between_new_key_made_and_old_key_deleted(litellm_sim, chat_sim) -> None:
    person, record = issued(litellm_sim, chat_sim)
    old_hash = key_of(record).token_hash
    personal_keys.personal_key_rotate(record=record)
    record = drive(record, until=lambda r: r.step == "rotate_delete_old")
    assert key_of(record).rotation_old_hash == old_hash
    new_hash = key_of(record).token_hash
    # The crash: a worker claimed the step and died (its lease is still on the row).
    assert key_steps._claim(record.pk)
    assert key_steps.personal_key_advance(record_id=record.pk).outcome == "busy"
    assert len(litellm_keys_of(litellm_sim, person)) == 2

    generated = litellm_sim.calls[("POST", "/key/generate")]
    record = drive(record)  # the lease ran out: the next worker resumes at the recorded step

    assert record.status == "ready", record.last_error
    assert litellm_sim.calls[("POST", "/key/generate")] == generated  # no key made again
    keys = litellm_keys_of(litellm_sim, person)
    assert [k["token"] for k in keys] == [new_hash]
    assert keys[0]["key_alias"] == f"portal-person-{person.pk}"
    assert litellm_sim.get_deleted_key(old_hash) is not None
    assert pushed_hash(chat_sim, person) == new_hash


def test_it_resumes_when_litellm_already_deleted_the_old_key_but_the_answer_was_lost(
    litellm_sim, chat_sim
) -> None:
    person, record = issued(litellm_sim, chat_sim)
    personal_keys.personal_key_rotate(record=record)
    record = drive(record, until=lambda r: r.step == "rotate_delete_old")
    litellm_sim.lose_answer_after_write = 1  # /key/delete is done, its answer is lost

    record = drive(record)

    assert record.status == "ready", record.last_error
    assert len(litellm_keys_of(litellm_sim, person)) == 1


def test_it_asks_for_a_rotation_when_the_plan_says_it_is_due(litellm_sim, chat_sim) -> None:
    from django.utils import timezone

    _, record = issued(litellm_sim, chat_sim)
    PersonalKey.objects.filter(pk=record.pk).update(rotation_due_at=timezone.now())
    personal_keys.personal_keys_due()
    record.refresh_from_db()
    assert record.step == "rotate_issue" and record.rotation_requested_at is not None
    old_hash = key_of(record).token_hash
    record = drive(record)
    assert key_of(record).token_hash != old_hash
    assert record.rotation_due_at is not None and record.rotation_due_at > timezone.now()


def test_it_refuses_to_rotate_a_suspended_persons_key(litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    PersonalKey.objects.filter(pk=record.pk).update(suspended=True)
    record.refresh_from_db()
    with pytest.raises(personal_keys.RotationRefused):
        personal_keys.personal_key_rotate(record=record)


def test_it_leaves_the_working_key_alone_when_litellm_refuses_the_new_one(litellm_sim, chat_sim) -> None:
    person, record = issued(litellm_sim, chat_sim)
    old = key_of(record)
    personal_keys.personal_key_rotate(record=record)
    litellm_sim.status_override = 400  # LiteLLM refuses the new key for good

    record = drive(record)

    assert record.status == "needs_attention" and record.step == "rotate_issue"
    assert key_of(record).token_hash == old.token_hash and key_of(record).rotation_step == ""
    litellm_sim.clear_faults()
    assert key_of(record).pk == old.pk and litellm_sim.get_key(old.token_hash or "") is not None
    assert old.raw_key is not None and pushed_raw_key(chat_sim, person.email) == old.raw_key.reveal()

    personal_keys.personal_key_retry(record=record)  # staff fixed LiteLLM and retry
    record = drive(record)
    assert record.status == "ready" and key_of(record).token_hash != old.token_hash
    assert len(litellm_keys_of(litellm_sim, person)) == 1


def test_it_puts_the_new_value_into_librechat_when_staff_rotate_the_key_in_the_litellm_admin(
    litellm_sim, chat_sim, django_capture_on_commit_callbacks
) -> None:
    from integrations.litellm import key_work, keys

    person, record = issued(litellm_sim, chat_sim)
    key = key_of(record)
    old_hash = key.token_hash

    with django_capture_on_commit_callbacks(execute=True):
        keys.key_rotate(key=key, enqueue=False)
        key_work.key_apply_pending(key_id=key.pk)  # the one engine: same row, new value

    # The engine waits for the hand-over: both keys work, LibreChat still has the old one.
    assert key_of(record).rotation_step == "handover" and litellm_sim.get_key(old_hash) is not None
    assert key_of(record).revealed_at is not None  # never shown in the admin
    personal_keys.personal_keys_due()  # the access beat carries the hand-over on
    record.refresh_from_db()
    assert record.step == "rotate_push"
    record = drive(record)
    assert record.status == "ready" and key_of(record).token_hash != old_hash
    assert hash_token(pushed_raw_key(chat_sim, person.email)) == key_of(record).token_hash
    assert litellm_sim.get_deleted_key(old_hash) is not None


def test_reconcile_during_the_hand_over_counts_both_keys_as_the_persons(litellm_sim, chat_sim) -> None:
    """While the engine waits for LibreChat, LiteLLM holds the old key and the new one, both
    marked as the person's: neither is an orphan to delete, nor a stranger to adopt."""
    person, record = issued(litellm_sim, chat_sim)
    old_hash = key_of(record).token_hash
    personal_keys.personal_key_rotate(record=record)
    record = drive(record, until=lambda r: r.step == "rotate_push")
    assert len(litellm_keys_of(litellm_sim, person)) == 2

    report = reconcile.pairing_reconcile(pairing_id=record.pairing_id, repair=True)

    assert report.findings == {}, report.findings
    assert litellm_sim.get_key(old_hash) is not None  # LibreChat still works with it
    record = drive(record)
    assert record.status == "ready" and len(litellm_keys_of(litellm_sim, person)) == 1
