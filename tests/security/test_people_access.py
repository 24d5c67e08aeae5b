"""A person reaches only their own LibreChat session; login and signup are rate-limited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import timezone

from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
from integrations.librechat.provisioning import account_provision
from portal.accounts.models import SignupMode, SignupPolicy, User
from tests.mailbox import deliver_queued_mail
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db
PASSWORD = "a long portal passphrase 7"


@pytest.fixture
def librechat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        simulator.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        yield simulator


@pytest.fixture
def librechat_server(librechat_sim: LibreChatSimulator) -> LibreChatServer:
    return LibreChatServer.objects.create(
        name="librechat-api", api_url=librechat_sim.base_url, network="backend-dev"
    )


def ready_person(email: str, server: LibreChatServer) -> User:
    person = User.objects.create_user(
        email=email, password=PASSWORD, email_verified_at=timezone.now(), approved_at=timezone.now()
    )
    account = LibreChatAccount.objects.create(
        person=person, server=server, email=email, name=email, password="p" * 40
    )
    account_provision(account_id=account.pk)
    assert LibreChatAccount.objects.get(pk=account.pk).status == AccountStatus.READY
    return person


def test_it_answers_401_to_an_anonymous_session_request(client: Client) -> None:
    response = client.get("/api/librechat/session")
    assert response.status_code == 401 and "access_token" not in response.json()


def test_it_gives_each_person_only_their_own_session(
    librechat_server: LibreChatServer, librechat_sim: LibreChatSimulator
) -> None:
    from integrations.librechat.client import client_for

    ann = ready_person("ann@example.com", librechat_server)
    bob = ready_person("bob@example.com", librechat_server)
    tokens = {}
    for person in (ann, bob):
        browser = Client()
        browser.force_login(person)
        # Query strings naming someone else are ignored: the endpoint takes no parameter.
        response = browser.get("/api/librechat/session", {"email": "ann@example.com", "person": str(ann.pk)})
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "no-store"
        token = response.json()["access_token"]
        assert client_for(librechat_sim.base_url).current_user(access_token=token).email == person.email
        tokens[person.email] = token
    assert tokens["ann@example.com"] != tokens["bob@example.com"]


def test_it_rate_limits_login_with_a_clear_429(client: Client, settings) -> None:
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    User.objects.create_user(email="ann@example.com", password=PASSWORD)
    for _ in range(3):
        assert (
            client.post("/accounts/login/", {"username": "ann@example.com", "password": "wrong"}).status_code
            == 200
        )
    response = client.post("/accounts/login/", {"username": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert response["Retry-After"]
    assert b"Too many" in response.content or b"too many" in response.content
    assert "_auth_user_id" not in client.session  # even the right password waits


def test_it_rate_limits_login_per_address_across_emails(client: Client, settings) -> None:
    settings.PORTAL_LOGIN_RATE_PER_ADDRESS = (4, 300)
    for n in range(4):
        client.post("/accounts/login/", {"username": f"guess{n}@example.com", "password": "x"})
    assert (
        client.post("/accounts/login/", {"username": "new@example.com", "password": "x"}).status_code == 429
    )


def test_it_rate_limits_signup_with_a_clear_429(client: Client, settings) -> None:
    settings.PORTAL_SIGNUP_RATE = (2, 3600)
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    for n in range(2):
        data = {"email": f"p{n}@example.com", "name": "P", "password1": PASSWORD, "password2": PASSWORD}
        assert client.post("/accounts/signup/", data).status_code == 302
    data = {"email": "p9@example.com", "name": "P", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 429
    assert not User.objects.filter(email="p9@example.com").exists()


def test_it_rate_limits_password_reset_emails(client: Client, settings) -> None:

    settings.PORTAL_PASSWORD_RESET_RATE = (2, 3600)
    User.objects.create_user(email="ann@example.com", password=PASSWORD)
    for _ in range(2):
        assert client.post("/accounts/password_reset/", {"email": "ann@example.com"}).status_code == 302
    assert client.post("/accounts/password_reset/", {"email": "ann@example.com"}).status_code == 429
    assert len(deliver_queued_mail()) == 2


def test_it_rate_limits_the_admin_login_too(client: Client, settings) -> None:
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "ops@example.com", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/admin/login/", {"username": "ops@example.com", "password": PASSWORD})
    assert response.status_code == 429 and b"Too many sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_signing_in_with_the_right_password_does_not_count_against_the_limit(
    client: Client, settings
) -> None:
    """Found walking the admin: five successful sign-ins in five minutes locked a staff member
    out. The limits slow guessing; a right password is no guess. Wrong ones still count."""
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    User.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    for _ in range(6):
        response = client.post("/admin/login/", {"username": "ops@example.com", "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        client.logout()
    for _ in range(6):
        response = client.post("/accounts/login/", {"username": "ops@example.com", "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        client.logout()
    for _ in range(3):
        assert (
            client.post("/admin/login/", {"username": "ops@example.com", "password": "wrong"}).status_code
            == 200
        )
    assert (
        client.post("/admin/login/", {"username": "ops@example.com", "password": PASSWORD}).status_code == 429
    )
