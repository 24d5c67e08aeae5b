"""A bulk action's progress page (portal/core/batches.py): its cost per refresh, and that a
staff member reads only the batches their own session started."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from portal.accounts.models import User
from portal.core.batches import SESSION_KEY

QUEUE = "net.backend-dev"


def _staff(email: str) -> Client:
    user = User.objects.create_superuser(email=email, password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def _start(client: Client, token: str, lines: int) -> None:
    """A batch as batch_start records it, its tasks never taken (ids unknown to the result
    store read PENDING, and no worker was ever heard on the queue)."""
    session = client.session
    sent = [[f"key {i}", str(uuid.uuid4()), QUEUE, ""] for i in range(lines)]
    session[SESSION_KEY] = {
        token: {
            "title": "Block 40 keys",
            "back_url": "/admin/",
            "vendor": "LiteLLM",
            "started": "2026-01-01 00:00:00",
            "sent": sent,
            "unsent": [],
        }
    }
    session.save()


@pytest.mark.django_db
def test_a_refresh_reads_each_queues_heartbeat_once(django_assert_max_num_queries) -> None:
    staff = _staff("ops@example.com")
    _start(staff, "tok", 40)
    # Session, user and one heartbeat + stale-after look-up for the one queue: not two per line.
    with django_assert_max_num_queries(6):
        page = staff.get("/admin/progress/tok/?fragment=1").content.decode()
    assert page.count("no worker heard on it ever") == 40


@pytest.mark.django_db
def test_a_batch_is_read_only_from_the_session_that_started_it() -> None:
    owner, other = _staff("ops@example.com"), _staff("other@example.com")
    _start(owner, "Abc-123", 1)
    assert owner.get("/admin/progress/Abc-123/").status_code == 200
    for token in (
        "Abc-123",  # someone else's token, from another session
        "A" * 5000,  # a huge token
        "\u0410bc-123",  # a look-alike (Cyrillic A)
        "abc-123",  # another case
    ):
        assert other.get(f"/admin/progress/{token}/").status_code == 404, token
    assert owner.get("/admin/progress/\u0410bc-123/").status_code == 404
