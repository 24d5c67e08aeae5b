"""Staff who may only look at people's keys cannot start what changes them: the admin's
rotate and retry actions need the change permission, and a forged POST of the action is
refused without touching the key (attack found worth keeping after the move to portal.access)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import drive, key_of, make_pairing, make_ready_person

pytestmark = pytest.mark.django_db


def test_view_only_staff_cannot_rotate_or_retry_a_persons_key(litellm_sim, chat_sim) -> None:
    person = make_ready_person(make_pairing(litellm_sim, chat_sim))
    record = drive(PersonalKey.objects.get(person=person))
    hash_before = key_of(record).token_hash
    viewer = User.objects.create_user("viewer@example.com", "a long portal passphrase 3", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="access", codename="view_personalkey")
    )
    client = Client()
    client.force_login(viewer)

    page = client.get("/admin/access/personalkey/")
    assert page.status_code == 200 and "Rotate the key now" not in page.content.decode()
    for action in ("rotate", "retry", "rotate_now", "retry_now"):
        client.post(
            "/admin/access/personalkey/", {"action": action, "_selected_action": [record.pk], "post": "yes"}
        )

    record.refresh_from_db()
    assert record.rotation_requested_at is None and record.step == ""
    assert key_of(record).token_hash == hash_before
    assert client.get(f"/admin/access/personalkey/{record.pk}/change/").status_code == 200  # can look
