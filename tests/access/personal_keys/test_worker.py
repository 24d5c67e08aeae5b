"""The whole path through real Celery workers: steps hop between the LiteLLM and LibreChat
network queues, and a worker SIGKILLed in the middle of a rotation is resumed by the beat."""

from __future__ import annotations

import time
from decimal import Decimal

import redis
from django.utils import timezone

from integrations.litellm.client import hash_token
from integrations.litellm.models import VirtualKey
from portal.access import personal_keys
from portal.access.models import PersonalKey
from tests.access.personal_keys.support import (
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
    pushed_raw_key,
)
from tests.access.personal_keys.test_rotation_budget import chat
from tests.workers import CHAT_NETWORK, wait_for


def status(record: PersonalKey) -> tuple[str, str]:
    record.refresh_from_db()
    return record.step, record.status


def test_it_issues_and_pushes_the_key_through_the_workers_of_both_networks(
    litellm_sim, chat_sim, start_worker, redis_url
) -> None:
    worker = start_worker()
    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    person = make_ready_person(pairing)  # ready -> the record is made and its first step queued
    record = PersonalKey.objects.get(person=person)

    wait_for(lambda: status(record) == ("", "ready"), worker)

    keys = litellm_keys_of(litellm_sim, person)
    assert len(keys) == 1
    assert hash_token(pushed_raw_key(chat_sim, person.email)) == keys[0]["token"]
    assert "access.personal_key_advance" in worker.log()
    raw = pushed_raw_key(chat_sim, person.email)
    assert raw not in worker.log()
    # Task arguments and results (the result backend) never hold the key either.
    backend = redis.Redis.from_url(redis_url)
    results = [backend.get(name) or b"" for name in backend.scan_iter("celery-task-meta-*")]
    assert results and not any(raw.encode() in value for value in results)


def test_it_issues_the_key_once_litellm_is_back_after_being_down_when_librechat_was_ready(
    litellm_sim, chat_sim, start_worker
) -> None:
    worker = start_worker()
    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    litellm_sim.stop()
    person = make_ready_person(pairing)
    record = PersonalKey.objects.get(person=person)
    wait_for(lambda: PersonalKey.objects.filter(pk=record.pk, attempts__gte=1).exists(), worker)
    record.refresh_from_db()
    assert record.step == "issue" and "LiteLLM" in record.last_error and record.key_id is not None

    litellm_sim.start()
    # Time passes: the step's backoff and the key row's own backoff run out; the beat hands it on.
    PersonalKey.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    VirtualKey.objects.filter(pk=record.key_id).update(next_attempt_at=timezone.now())
    personal_keys.personal_keys_due()

    wait_for(lambda: status(record) == ("", "ready"), worker)
    assert len(litellm_keys_of(litellm_sim, person)) == 1
    assert litellm_sim.calls[("POST", "/key/generate")] == 1


def test_it_resumes_a_rotation_after_the_worker_was_killed_deleting_the_old_key(
    litellm_sim, chat_sim, start_worker
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    old_hash = key_of(record).token_hash
    litellm_sim.set_spend(old_hash or "", 9.5)  # of the plan's 10 a month
    reset_at = litellm_sim.get_key(old_hash or "")["budget_reset_at"]
    old_raw = pushed_raw_key(chat_sim, person.email)
    personal_keys.personal_key_rotate(record=record)
    record = drive(record, until=lambda r: r.step == "rotate_delete_old")
    litellm_sim.configure(spend_per_call=0.125)
    assert chat(litellm_sim, old_raw) == 200  # the old key still works until it is settled
    assert key_of(record).rotation_old_hash == old_hash  # the engine swapped, the old key works
    new_hash = key_of(record).token_hash

    litellm_sim.latency = 3.0  # LiteLLM slow: the worker is inside /key/delete when it dies
    first = start_worker()
    PersonalKey.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    personal_keys.personal_keys_due()
    wait_for(lambda: PersonalKey.objects.filter(pk=record.pk, claimed_until__isnull=False).exists(), first)
    time.sleep(0.5)
    first.kill()  # SIGKILL: no cleanup, the claim stays on the row
    litellm_sim.latency = 0.0

    record.refresh_from_db()
    assert record.step == "rotate_delete_old" and record.claimed_until is not None
    # Time passes: the dead worker's leases (ours and the key row's) run out.
    PersonalKey.objects.filter(pk=record.pk).update(claimed_until=None, next_attempt_at=timezone.now())
    VirtualKey.objects.filter(pk=key_of(record).pk).update(next_attempt_at=timezone.now())
    second = start_worker()
    personal_keys.personal_keys_due()

    wait_for(lambda: status(record) == ("", "ready"), second)
    keys = litellm_keys_of(litellm_sim, person)
    assert [k["token"] for k in keys] == [new_hash]
    assert keys[0]["key_alias"] == f"portal-person-{person.pk}"
    assert litellm_sim.get_key(old_hash) is None
    assert hash_token(pushed_raw_key(chat_sim, person.email)) == new_hash
    # The budget held through the kill: 9.5 of 10 plus the old key's last call, counted once,
    # in the same period.
    assert keys[0]["spend"] == 9.625 and keys[0]["max_budget"] == 10.0
    assert keys[0]["budget_reset_at"] == reset_at
    assert key_of(record).spend == Decimal("9.625") and key_of(record).max_budget == Decimal("10")


def test_it_deletes_the_key_and_the_librechat_account_through_the_workers_when_the_person_goes(
    litellm_sim, chat_sim, start_worker
) -> None:
    from portal.access.models import PersonRemoval

    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    token_hash = key_of(record).token_hash
    assert token_hash is not None
    worker = start_worker()

    person.delete()  # the tasks get the removal row (hashes, login), never the person row

    removal = PersonRemoval.objects.get(email="ann@example.com")
    wait_for(lambda: PersonRemoval.objects.filter(pk=removal.pk, status="done").exists(), worker)
    assert litellm_sim.get_key(token_hash) is None and chat_sim.user("ann@example.com") is None
    removal.refresh_from_db()
    assert removal.librechat_password is None


def test_it_reconciles_from_the_admin_through_the_litellm_networks_worker(
    litellm_sim, chat_sim, start_worker, client
) -> None:
    from portal.access.models import DriftFinding
    from portal.accounts.models import User

    worker = start_worker()
    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    litellm_sim.add_key(metadata={"managed_by": "portal", "portal_person_id": 999})
    client.force_login(User.objects.create_superuser(email="admin@example.com", password="x"))

    response = client.post(
        "/admin/access/pairing/",
        {"action": "reconcile_report", "_selected_action": [pairing.pk], "post": "yes"},
        follow=True,
    )

    assert "1 findings, 0 repaired (1 LiteLLM list calls)" in response.content.decode(), worker.log()[-3000:]
    assert DriftFinding.objects.get(pairing=pairing).kind == "orphan_key"
