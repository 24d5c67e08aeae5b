"""The guided setup links only the pages this staff member may open: a line they cannot follow
keeps its sentence and says who can do it, instead of a link to a 403."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from integrations.litellm.models import LiteLLMServer
from portal.accounts.models import User

pytestmark = pytest.mark.django_db


def index_lines(client: Client) -> dict[str, str]:
    response = client.get("/admin/")
    assert response.status_code == 200
    return dict(re.findall(r'data-step="(\w+)">(.*?)</li>', response.content.decode(), flags=re.S))


def links(body: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', body)


def staff_with(client: Client, *codenames: str) -> Client:
    person = User.objects.create_user(email="desk@example.com", password="x long passphrase", is_staff=True)
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(person)
    return client


def test_staff_holding_one_permission_get_links_only_where_they_may_go(client: Client) -> None:
    LiteLLMServer.objects.create(name="gateway", base_url="http://litellm.invalid:4000", master_key="sk-x")
    User.objects.create_user(email="waiting@example.com", email_verified_at=timezone.now())
    lines = index_lines(staff_with(client, "view_signuppolicy"))

    assert links(lines["signup"]) == ["/admin/accounts/signuppolicy/"]
    for key in ("litellm", "librechat", "pairing", "workers"):
        assert links(lines[key]) == [], key
        assert "Ask a superuser to do this step: your account may not open" in lines[key]
    assert "gateway: " in lines["litellm"]  # the sentence itself still says what stands
    assert links(lines["approvals"]) == []
    assert "Ask a superuser to approve them: your account may not open People." in lines["approvals"]


def test_view_permission_opens_a_change_page_but_not_an_add_page(client: Client) -> None:
    LiteLLMServer.objects.create(name="gateway", base_url="http://litellm.invalid:4000", master_key="sk-x")
    lines = index_lines(staff_with(client, "view_litellmserver", "view_librechatserver"))
    server = LiteLLMServer.objects.get()
    assert links(lines["litellm"]) == [f"/admin/litellm/litellmserver/{server.pk}/change/"]
    assert links(lines["librechat"]) == []  # none yet: its add page needs add permission
    assert "your account may not open Add a LibreChat server." in lines["librechat"]
    assert links(lines["signup"]) == []


def test_a_superuser_gets_every_link(client: Client) -> None:
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x long passphrase"))
    lines = index_lines(client)
    assert all(
        len(links(lines[key])) == 1 for key in ("litellm", "librechat", "pairing", "signup", "workers")
    )
    assert "Ask a superuser" not in "".join(lines.values())
