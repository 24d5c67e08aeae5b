"""Staff see each person's key and its step without the secret, act on it from the admin (the
actions land in the admin log), and change a person's plan."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry

from integrations.litellm.models import KeyPlan
from portal.access.models import DriftFinding, PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import (
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="admin@example.com", password="x"))
    return client


def issued(litellm_sim, chat_sim):
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    return person, drive(PersonalKey.objects.get(person=person))


def test_it_shows_the_key_and_its_step_but_never_the_secret(staff_client, litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    key = key_of(record)
    assert key.raw_key is not None

    listing = staff_client.get("/admin/access/personalkey/").content.decode()
    page = staff_client.get(f"/admin/access/personalkey/{record.pk}/change/").content.decode()
    key_page = staff_client.get(f"/admin/litellm/virtualkey/{key.pk}/change/").content.decode()

    for html in (listing, page, key_page):
        assert key.raw_key.reveal() not in html
    assert key.key_name in listing and "ann@example.com" in listing


def test_it_rotates_from_the_admin_and_logs_the_action(staff_client, litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    old = key_of(record)

    response = staff_client.post(
        "/admin/access/personalkey/",
        {"action": "rotate_now", "_selected_action": [record.pk], "post": "yes"},
        follow=True,
    )

    assert "Rotation requested" in response.content.decode()
    entry = LogEntry.objects.get(object_id=str(record.pk))
    assert "rotation requested" in entry.get_change_message()
    assert old.raw_key is not None and old.raw_key.reveal() not in entry.change_message
    record = drive(record)
    assert key_of(record).token_hash != old.token_hash and record.status == "ready"


def test_it_applies_a_plan_changed_in_the_admin(staff_client, litellm_sim, chat_sim) -> None:
    _, record = issued(litellm_sim, chat_sim)
    bigger = KeyPlan.objects.create(name="research", max_budget=Decimal("75"))

    staff_client.post(f"/admin/access/personalkey/{record.pk}/change/", {"plan": bigger.pk})

    record.refresh_from_db()
    assert record.plan == bigger and record.step == "update_limits" and not record.limits_applied
    record = drive(record)
    assert litellm_sim.get_key(key_of(record).token_hash)["max_budget"] == 75.0


def test_it_fixes_a_drift_finding_in_one_click(staff_client, litellm_sim, chat_sim) -> None:
    person, record = issued(litellm_sim, chat_sim)
    PersonalKey.objects.filter(pk=record.pk).delete()
    from portal.access import reconcile

    reconcile.pairing_reconcile(pairing_id=record.pairing_id)
    finding = DriftFinding.objects.get(kind="orphan_key")

    staff_client.post(
        "/admin/access/driftfinding/", {"action": "fix", "_selected_action": [finding.pk], "post": "yes"}
    )

    finding.refresh_from_db()
    assert finding.fixed_at is not None and finding.fix_outcome == "deletion in LiteLLM requested"
    assert LogEntry.objects.filter(object_id=str(finding.pk)).exists()
    from integrations.litellm import key_work
    from integrations.litellm.models import VirtualKey

    key_work.key_apply_pending(key_id=VirtualKey.objects.get(token_hash=finding.token_hash).pk)
    assert litellm_keys_of(litellm_sim, person) == []
