"""Signup -> verify -> a real Celery worker on the LibreChat network's queue -> session."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations.librechat.client import client_for
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.librechat.tasks import account_provision_task, accounts_provision_due_task
from portal.accounts.models import SignupMode
from portal.core.queues import network_queue_name
from tests.mailbox import deliver_queued_mail
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long portal passphrase 7"


@pytest.fixture
def worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default", network_queue_name("backend-dev")],
        concurrency=4,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(condition: Callable[[], Any], worker: CeleryWorker, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"gave up waiting; the worker's log:\n{worker.log()[-4000:]}")


def test_it_goes_from_signup_to_a_live_librechat_session(
    client: Client, policy, server: LibreChatServer, sim: LibreChatSimulator, worker: CeleryWorker
) -> None:
    policy(SignupMode.OPEN)
    data = {"email": "ann@example.com", "name": "Ann Example", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/accounts/signup/", data).status_code == 302
    assert sum(sim.calls.values()) == 0
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", str(deliver_queued_mail()[0].body))
    assert link
    client.post(link.group(1), {"password": PASSWORD})

    account = wait_for(
        lambda: LibreChatAccount.objects.filter(
            person__email="ann@example.com", status=AccountStatus.READY
        ).first(),
        worker,
    )
    assert sim.check_password("ann@example.com", account.password.reveal())
    assert sim.calls[("POST", "/api/auth/register")] == 1

    assert client.login(username="ann@example.com", password=PASSWORD)
    first = client.get("/api/librechat/session").json()
    assert (
        client_for(sim.base_url).current_user(access_token=first["access_token"]).email == "ann@example.com"
    )

    # Expired: the web process waits while the worker refreshes on the LibreChat network.
    LibreChatSession.objects.filter(account=account).update(access_expires_at=timezone.now())
    sim.advance_clock(2)
    second = client.get("/api/librechat/session")
    assert second.status_code == 200, second.content
    assert second.json()["access_token"] != first["access_token"]
    assert sim.calls[("POST", "/api/auth/refresh")] == 1 and sim.calls[("POST", "/api/auth/login")] == 1

    client.post("/accounts/logout/")
    wait_for(lambda: not sim.sessions_for("ann@example.com"), worker)
    assert client.get("/api/librechat/session").status_code == 401


def test_it_picks_up_a_row_whose_message_was_lost(
    make_person, server: LibreChatServer, sim: LibreChatSimulator, worker: CeleryWorker
) -> None:
    person = make_person("bob@example.com")
    # As if the broker lost the wake-up message: only the row says the work is due.
    account = LibreChatAccount.objects.create(
        person=person,
        server=server,
        email="bob@example.com",
        name="Bob Example",
        password="a-generated-password-for-bob-0123456789",
        next_attempt_at=timezone.now(),
    )
    accounts_provision_due_task.apply_async(queue="default")
    wait_for(
        lambda: LibreChatAccount.objects.filter(pk=account.pk, status=AccountStatus.READY).exists(), worker
    )


def test_it_never_lets_two_workers_provision_the_same_person(
    make_person, server: LibreChatServer, sim: LibreChatSimulator, worker: CeleryWorker
) -> None:
    sim.set_faults(latency=0.2)
    person = make_person("cy@example.com")
    account = LibreChatAccount.objects.create(
        person=person, server=server, email="cy@example.com", name="Cy Example", password="p" * 40
    )
    results = [
        account_provision_task.apply_async(
            kwargs={"account_id": account.pk}, queue=network_queue_name("backend-dev")
        )
        for _ in range(8)
    ]
    outcomes = sorted(r.get(timeout=30)["status"] for r in results)
    assert "ready" in outcomes and set(outcomes) <= {"ready", "busy"}
    assert sim.calls[("POST", "/api/auth/register")] == 1
    assert sim.calls[("POST", "/api/auth/login")] == 1
