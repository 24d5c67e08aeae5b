"""Signup under each policy, then email verification before anything is provisioned."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
from portal.accounts.models import Invitation, SignupMode, User
from tests.mailbox import deliver_queued_mail
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"


def sign_up(client: Client, email: str = "ann@example.com", password: str = PASSWORD, **extra: str):
    data = {"email": email, "name": "Ann Example", "password1": password, "password2": password, **extra}
    return client.post("/accounts/signup/", data)


def verification_link(email: str) -> str:
    message = next(m for m in deliver_queued_mail() if m.to == [email] and "Confirm" in m.subject)
    found = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


def test_it_signs_up_without_provisioning_anything_before_verification(
    client: Client,
    policy,
    server: LibreChatServer,
    sim: LibreChatSimulator,
    django_capture_on_commit_callbacks,
) -> None:
    policy(SignupMode.OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client)
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/done/"
    person = User.objects.get(email="ann@example.com")
    assert person.email_verified_at is None and person.approved_at is not None
    assert person.check_password(PASSWORD)
    assert not LibreChatAccount.objects.exists()
    assert sum(sim.calls.values()) == 0  # a signup request never calls LibreChat
    assert verification_link("ann@example.com")


def test_it_provisions_only_after_the_email_is_confirmed_by_a_post(
    client: Client, policy, server: LibreChatServer, django_capture_on_commit_callbacks
) -> None:
    policy(SignupMode.OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
    link = verification_link("ann@example.com")
    assert client.get(link, follow=True).status_code == 200  # a mail scanner's GET verifies nobody
    assert User.objects.get(email="ann@example.com").email_verified_at is None
    response = client.post(link, {"password": PASSWORD})
    assert response.status_code == 302
    account = LibreChatAccount.objects.get(person__email="ann@example.com")
    assert account.status == AccountStatus.WAITING and account.server == server


def test_it_refuses_a_forged_verification_link(client: Client, policy) -> None:
    policy(SignupMode.OPEN)
    response = client.post("/accounts/verify/not-a-token/")
    assert response.status_code == 400 and b"not valid" in response.content


def test_it_keeps_out_other_domains(client: Client, policy) -> None:
    policy(SignupMode.DOMAINS, domains="corp.example\n@lab.example")
    response = sign_up(client, "ann@gmail.example")
    assert response.status_code == 200 and b"cannot sign up here" in response.content
    assert not User.objects.exists()
    assert sign_up(client, "ann@lab.example").status_code == 302


def test_it_lets_in_only_invited_addresses_once(client: Client, policy) -> None:
    policy(SignupMode.INVITATION)
    assert b"by invitation" in sign_up(client, "ann@example.com").content
    Invitation.objects.create(email="Ann@Example.com")
    assert sign_up(client, "ann@example.com").status_code == 302
    assert Invitation.objects.get().used_at is not None
    assert b"by invitation" in sign_up(client, "bob@example.com").content


def test_it_waits_for_staff_approval_before_provisioning(
    client: Client, policy, server: LibreChatServer, django_capture_on_commit_callbacks
) -> None:
    from portal.access import overview
    from portal.accounts import services

    policy(SignupMode.APPROVAL)
    User.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(verification_link("ann@example.com"), {"password": PASSWORD})
    person = User.objects.get(email="ann@example.com")
    assert person.email_verified_at is not None and person.approved_at is None
    assert not LibreChatAccount.objects.exists()
    assert any(m.to == ["ops@example.com"] and "asks to join" in m.subject for m in deliver_queued_mail())
    assert (
        overview.person_access_status(person=person).line
        == "waiting: a staff member has to approve your signup"
    )
    services.person_approve(person=person)
    assert LibreChatAccount.objects.filter(person=person).exists()


def test_it_approves_nobody_by_default(client: Client, db: None) -> None:
    sign_up(client)
    assert User.objects.get().approved_at is None


def test_it_refuses_when_signup_is_closed(client: Client, policy) -> None:
    policy(SignupMode.CLOSED)
    assert b"Signup is closed" in sign_up(client).content


def test_it_answers_an_existing_address_like_a_new_one(
    client: Client, policy, django_capture_on_commit_callbacks
) -> None:
    policy(SignupMode.OPEN)
    User.objects.create_user(email="ann@example.com", password="x")
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, "ANN@example.com")
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/done/"
    assert User.objects.count() == 1
    assert [m.subject for m in deliver_queued_mail()] == ["You already have an account"]


def test_it_applies_djangos_password_validators(client: Client, policy) -> None:
    policy(SignupMode.OPEN)
    response = sign_up(client, password="password")
    assert response.status_code == 200 and b"too common" in response.content
    response = sign_up(client, password="ann@example.com")
    assert b"too similar" in response.content
    response = client.post(
        "/accounts/signup/",
        {"email": "x@example.com", "name": "X", "password1": PASSWORD, "password2": "other"},
    )
    assert b"The two passwords differ." in response.content
    assert not User.objects.exists()


def test_it_rejects_garbage_with_a_form_error_not_a_500(client: Client, policy) -> None:
    policy(SignupMode.OPEN)
    response = client.post("/accounts/signup/", {"email": "not an email", "name": "", "password1": ""})
    assert response.status_code == 200 and b"Enter a valid email address." in response.content


def test_it_rate_limits_signups_per_address(client: Client, policy, settings) -> None:
    settings.PORTAL_SIGNUP_RATE = (2, 3600)
    policy(SignupMode.OPEN)
    assert sign_up(client, "a@example.com").status_code == 302
    assert sign_up(client, "b@example.com").status_code == 302
    response = sign_up(client, "c@example.com")
    assert response.status_code == 429 and response["Retry-After"]
    assert not User.objects.filter(email="c@example.com").exists()
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert sign_up(other, "d@example.com").status_code == 302


def test_it_counts_the_forwarded_address_behind_a_trusted_proxy(client: Client, policy, settings) -> None:
    settings.PORTAL_SIGNUP_RATE = (1, 3600)
    settings.PORTAL_TRUSTED_PROXY_HOPS = 1
    policy(SignupMode.OPEN)

    def from_address(email: str, forwarded: str) -> int:
        data = {"email": email, "name": "Some Person", "password1": PASSWORD, "password2": PASSWORD}
        return client.post("/accounts/signup/", data, HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert from_address("a@example.com", "203.0.113.1") == 302
    assert from_address("b@example.com", "203.0.113.2") == 302  # same proxy, another client
    assert from_address("c@example.com", "198.51.100.7, 203.0.113.1") == 429  # a forged left part


def test_it_links_help_and_errors_to_their_fields_for_screen_readers(client: Client, policy) -> None:
    policy(SignupMode.OPEN)
    body = sign_up(client, password="password").content.decode()
    assert 'id="id_password1_helptext"' in body and 'id="id_password1_error"' in body
    field = re.search(r"<input[^>]*id=\"id_password1\"[^>]*>", body)
    assert field and 'aria-describedby="id_password1_helptext id_password1_error"' in field.group(0)
    assert 'aria-invalid="true"' in field.group(0)
