"""`/` over real HTTP: people reach sign-in / sign-up and then their own page, staff the admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from portal.accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long portal passphrase 7"


def sign_in(base_url: str, email: str) -> requests.Session:
    """Sign in through the site's own form, as a browser would (CSRF cookie and token)."""
    session = requests.Session()
    form = session.get(f"{base_url}/accounts/login/", timeout=10)
    assert form.status_code == 200
    response = session.post(
        f"{base_url}/accounts/login/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base_url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    return session


def test_an_anonymous_visitor_reaches_sign_in_with_a_way_to_sign_up(live_server: Any) -> None:
    response = requests.get(f"{live_server.url}/", timeout=10)
    assert response.status_code == 200
    assert response.url == f"{live_server.url}/accounts/login/"
    assert "<h1>Sign in</h1>" in response.text
    assert 'href="/accounts/signup/"' in response.text
    assert "Django administration" not in response.text and "/admin/" not in response.url
    head = requests.head(f"{live_server.url}/", timeout=10)  # uptime checks ask with HEAD
    assert head.status_code == 302 and head.headers["Location"] == "/accounts/login/"


def test_a_signed_in_person_reaches_their_own_page(
    live_server: Any, make_person: Callable[..., User]
) -> None:
    make_person("ann@example.com")
    session = sign_in(live_server.url, "ann@example.com")
    first = session.get(f"{live_server.url}/", allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"] == "/me/"
    page = session.get(f"{live_server.url}/", timeout=10)
    assert page.status_code == 200 and page.url == f"{live_server.url}/me/"
    assert "ann@example.com" in page.text


def test_staff_reach_the_admin(live_server: Any, make_person: Callable[..., User]) -> None:
    make_person("ops@example.com", is_staff=True, is_superuser=True)
    session = sign_in(live_server.url, "ops@example.com")
    page = session.get(f"{live_server.url}/", timeout=10)
    assert page.status_code == 200 and page.url == f"{live_server.url}/admin/"
    assert "Site administration" in page.text or "LiteLLM, LibreChat and connectivity" in page.text
