"""The person's page: LibreChat status in words, and how to sign in to LibreChat's web UI."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from integrations.librechat import accounts as librechat
from integrations.librechat.models import AccountStatus, LibreChatAccount
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"


def test_it_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_says_what_an_unverified_person_waits_for(client: Client, make_person) -> None:
    client.force_login(make_person(cleared=False))
    response = client.get("/me/")
    assert b"waiting: confirm your email address" in response.content


def test_it_shows_the_provisioning_reason_while_waiting(client: Client, make_person, server) -> None:
    person = make_person()
    account = librechat.account_create(person=person)
    assert account is not None
    LibreChatAccount.objects.filter(pk=account.pk).update(status_note="LibreChat is busy; next try at 12:00")
    client.force_login(person)
    assert b"waiting: LibreChat is busy; next try at 12:00" in client.get("/me/").content


def test_it_shows_how_to_sign_in_to_librechat_with_the_password_hidden(
    client: Client, make_person, server
) -> None:
    person = make_person()
    account = librechat.account_create(person=person)
    assert account is not None
    LibreChatAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.READY, provisioned_at=timezone.now()
    )
    client.force_login(person)
    response = client.get("/me/")
    body = response.content.decode()
    assert "ready" in body and "https://chat.example.com" in body and "ann@example.com" in body
    assert account.password.reveal() not in body
    assert "no-store" in response["Cache-Control"]

    wrong = client.post("/me/", {"password": "not it"}).content.decode()
    assert "That is not your portal password." in wrong and account.password.reveal() not in wrong
    right = client.post("/me/", {"password": PASSWORD})
    assert account.password.reveal() in right.content.decode()
    assert "no-store" in right["Cache-Control"]


def test_it_limits_password_guesses_on_the_reveal_form(client: Client, make_person, server, settings) -> None:
    settings.PORTAL_REVEAL_RATE = (2, 300)
    person = make_person()
    account = librechat.account_create(person=person)
    assert account is not None
    LibreChatAccount.objects.filter(pk=account.pk).update(status=AccountStatus.READY)
    client.force_login(person)
    client.post("/me/", {"password": "a"})
    client.post("/me/", {"password": "b"})
    assert client.post("/me/", {"password": PASSWORD}).status_code == 429


def test_it_says_what_staff_must_do_when_it_needs_attention(client: Client, make_person, server) -> None:
    person = make_person()
    account = librechat.account_create(person=person)
    assert account is not None
    LibreChatAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.NEEDS_ATTENTION, status_note="staff must fix your LibreChat account"
    )
    client.force_login(person)
    assert b"needs attention: staff must fix your LibreChat account" in client.get("/me/").content


def test_it_sends_a_new_verification_link_from_the_persons_page(client: Client, make_person) -> None:
    import re

    person = make_person(cleared=False)
    client.force_login(person)
    assert b"Send me a new link" in client.get("/me/").content
    response = client.post("/accounts/verify/resend/", follow=True)
    assert b"We sent a new link to ann@example.com" in response.content
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", str(deliver_queued_mail()[-1].body))
    assert link
    client.post(link.group(1))
    person.refresh_from_db()
    assert person.email_verified_at is not None
    assert b"Send me a new link" not in client.get("/me/").content
