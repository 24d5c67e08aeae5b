"""Login at /accounts/login/ (rate-limited), Django's password reset, and logout."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from integrations.librechat.accounts import account_create
from integrations.librechat.models import LibreChatSession
from integrations.librechat.provisioning import account_provision
from integrations.librechat.sessions import session_logout
from tests.mailbox import deliver_queued_mail
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"


def test_it_logs_in_by_email_and_lands_on_the_persons_page(client: Client, make_person) -> None:
    make_person()
    response = client.post("/accounts/login/", {"username": "Ann@Example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/me/"


def test_it_rate_limits_attempts_per_email(client: Client, make_person, settings) -> None:
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    make_person()
    for _ in range(3):
        assert (
            client.post("/accounts/login/", {"username": "ann@example.com", "password": "wrong"}).status_code
            == 200
        )
    response = client.post("/accounts/login/", {"username": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 429 and b"Too many sign-in attempts" in response.content


def test_it_rate_limits_attempts_per_address(client: Client, make_person, settings) -> None:
    settings.PORTAL_LOGIN_RATE_PER_ADDRESS = (2, 300)
    for n in range(2):
        client.post("/accounts/login/", {"username": f"p{n}@example.com", "password": "x"})
    assert client.post("/accounts/login/", {"username": "q@example.com", "password": "x"}).status_code == 429


def test_it_resets_the_portal_password_by_email(client: Client, make_person) -> None:
    make_person()
    response = client.post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(deliver_queued_mail()[0].body))
    assert link, deliver_queued_mail()[0].body
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "another long phrase 9", "new_password2": "another long phrase 9"},
    )
    assert done.status_code == 302
    assert client.login(username="ann@example.com", password="another long phrase 9")


def test_it_logs_the_librechat_session_out_with_the_portal(
    client: Client, make_person, server, sim: LibreChatSimulator, django_capture_on_commit_callbacks
) -> None:
    person = make_person()
    account = account_create(person=person)
    assert account is not None
    account_provision(account_id=account.pk)
    assert len(sim.sessions_for("ann@example.com")) == 1
    client.force_login(person)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post("/accounts/logout/").status_code == 302
    assert not LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).exists()
    assert len(callbacks) == 1  # the task that logs it out of LibreChat, on the network queue
    session = LibreChatSession.objects.get(account=account)
    assert session_logout(session_id=session.pk) == "logged out"
    assert sim.sessions_for("ann@example.com") == []
