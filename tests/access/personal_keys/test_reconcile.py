"""Reconcile the portal, LiteLLM and LibreChat: drift found, LiteLLM read page by page, safe
drift repaired, the rest left for staff with a one-click fix."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.librechat.models import AccountStatus, LibreChatAccount
from portal.access import reconcile
from portal.access.models import DriftFinding, PersonalKey
from tests.access.personal_keys.support import (
    drive,
    key_of,
    litellm_keys_of,
    litellm_loses,
    make_pairing,
    make_ready_person,
)

pytestmark = pytest.mark.django_db


def kinds(pairing) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in DriftFinding.objects.filter(pairing=pairing, fixed_at__isnull=True).values_list(
        "kind", flat=True
    ):
        out[kind] = out.get(kind, 0) + 1
    return out


def test_it_reports_each_kind_of_drift_reading_litellm_page_by_page(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    people = [make_ready_person(pairing, f"p{i}@example.com") for i in range(4)]
    records = [drive(PersonalKey.objects.get(person=p)) for p in people]
    litellm_sim.seed_keys(150, key_alias="stranger-{i}")  # keys the portal does not manage
    litellm_sim.add_key(metadata={"managed_by": "portal", "portal_person_id": 999})  # orphan
    litellm_sim.update_key_fields(key_of(records[0]).token_hash, blocked=True)  # blocked by hand
    litellm_loses(litellm_sim, key_of(records[1]).token_hash)
    PersonalKey.objects.filter(pk=records[2].pk).update(chat_expires_at="2020-01-01T00:00:00.000Z")
    records[3].delete()  # a person whose key row is gone
    litellm_sim.reset_calls()

    report = reconcile.pairing_reconcile(pairing_id=pairing.pk)

    assert kinds(pairing) == {
        "orphan_key": 2,  # the stray marker key and the key of the person whose row is gone
        "blocked_but_active": 1,
        "key_missing": 1,
        "chat_key_expired": 1,
        "person_without_key": 1,
    }
    assert report.list_calls == 2 == litellm_sim.calls[("GET", "/key/list")]  # 155 keys, 100 a page
    assert report.info_calls == 1  # only the one the listing lacked is confirmed by hash


def test_it_repairs_what_is_safe_and_leaves_the_rest_for_staff(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    ann, bob = make_ready_person(pairing, "ann@example.com"), make_ready_person(pairing, "bob@example.com")
    ann_key = drive(PersonalKey.objects.get(person=ann))
    PersonalKey.objects.get(person=bob).delete()  # bob has no key record
    litellm_sim.add_key(metadata={"managed_by": "portal", "portal_person_id": 999})
    litellm_loses(litellm_sim, key_of(ann_key).token_hash)

    report = reconcile.pairing_reconcile(pairing_id=pairing.pk, repair=True)

    assert report.repaired == 2
    assert kinds(pairing) == {"orphan_key": 1}  # not safe: a stray key may be in use somewhere
    ann_key = drive(ann_key)
    bob_key = drive(PersonalKey.objects.get(person=bob))
    assert ann_key.status == bob_key.status == "ready"
    assert len(litellm_keys_of(litellm_sim, ann)) == 1 and len(litellm_keys_of(litellm_sim, bob)) == 1

    orphan = DriftFinding.objects.get(pairing=pairing, kind="orphan_key", fixed_at__isnull=True)
    assert reconcile.drift_fix(finding_id=orphan.pk) == "deletion in LiteLLM requested"


def test_it_puts_a_missing_librechat_key_back_when_rechecking(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    with chat_sim._lock:  # the person removed it in LibreChat's settings
        chat_sim._keys[chat_sim.user(person.email).id].clear()
    long_ago = timezone.now() - reconcile.CHAT_RECHECK_AFTER * 2
    PersonalKey.objects.filter(pk=record.pk).update(verified_at=long_ago, pushed_at=long_ago)

    report = reconcile.pairing_reconcile(pairing_id=pairing.pk, repair=True)
    record = drive(record)

    assert report.rechecks == 1 and record.status == "ready"
    assert "LiteLLM" in chat_sim.user_keys(person.email)
    assert DriftFinding.objects.filter(kind="chat_key_missing", person=person).exists()


def test_it_does_not_count_accounts_that_are_not_ready_as_people_without_a_key(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    PersonalKey.objects.filter(person=person).delete()
    LibreChatAccount.objects.filter(person=person).update(status=AccountStatus.WAITING)
    reconcile.pairing_reconcile(pairing_id=pairing.pk)
    assert kinds(pairing) == {}


def test_it_replaces_the_key_whose_librechat_copy_expired(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    old = key_of(record).token_hash  # the one engine rotates the key row in place
    PersonalKey.objects.filter(pk=record.pk).update(chat_expires_at="2020-01-01T00:00:00.000Z")

    report = reconcile.pairing_reconcile(pairing_id=pairing.pk, repair=True)
    record = drive(record)

    assert report.findings == {"chat_key_expired": 1} and report.repaired == 1
    assert key_of(record).token_hash != old and record.status == "ready" and record.chat_expires_at > "2026"
