"""GET /api/librechat/session: the logged-in person's own valid LibreChat access token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from integrations.librechat.accounts import account_create
from integrations.librechat.models import LibreChatSession
from integrations.librechat.provisioning import account_provision
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_person(make_person, server, sim: LibreChatSimulator):
    def factory(email: str):
        person = make_person(email)
        account = account_create(person=person)
        assert account is not None
        account_provision(account_id=account.pk)
        return person

    return factory


def test_it_answers_401_to_anonymous_callers(client: Client) -> None:
    response = client.get("/api/librechat/session")
    assert response.status_code == 401 and response["Cache-Control"] == "no-store"


def test_it_answers_the_stored_token_without_calling_librechat(
    client: Client, ready_person, sim: LibreChatSimulator
) -> None:
    ann = ready_person("ann@example.com")
    ready_person("bob@example.com")
    sim.reset_calls()
    client.force_login(ann)
    response = client.get("/api/librechat/session")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    session = LibreChatSession.objects.get(account__person=ann, revoked_at__isnull=True)
    assert body["access_token"] == session.access_token.reveal()
    assert body["expires_at"] == session.access_expires_at.isoformat()
    assert sum(sim.calls.values()) == 0
    from integrations.librechat.client import client_for

    assert client_for(sim.base_url).current_user(access_token=body["access_token"]).email == "ann@example.com"


def test_it_says_why_there_is_no_session_yet(client: Client, make_person) -> None:
    client.force_login(make_person(cleared=False))
    response = client.get("/api/librechat/session")
    assert response.status_code == 409 and "confirm your email" in response.json()["error"]


def test_it_answers_pending_when_no_worker_answers_in_time(client: Client, ready_person) -> None:
    ann = ready_person("ann@example.com")
    LibreChatSession.objects.filter(account__person=ann).update(access_expires_at=timezone.now())
    client.force_login(ann)
    from portal.access import overview

    answer = overview.person_librechat_session(person=ann, wait_seconds=0.2)
    assert answer.pending and answer.token is None


def test_it_refuses_other_methods(client: Client) -> None:
    assert client.post("/api/librechat/session").status_code == 405
