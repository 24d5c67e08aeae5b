"""A worker SIGKILLed in the middle of provisioning: a new worker finishes the work (acks_late,
and the beat's pickup of rows whose lease ran out), and nothing is duplicated."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from integrations.librechat import accounts as librechat_accounts
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from portal.accounts.models import User
from portal.core.queues import network_queue_name
from tests.faults.beat import librechat_tick, tick_until
from tests.faults.conftest import NETWORK
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE = 40


def test_it_finishes_provisioning_after_a_worker_is_killed(
    librechat_sim: LibreChatSimulator,
    librechat_server: LibreChatServer,
    start_worker: Callable[..., CeleryWorker],
    redis_url: str,
    proof_line: Callable[[str], None],
) -> None:
    sim = librechat_sim
    sim.set_faults(latency=0.5)  # every call takes a while: the kill lands mid-provisioning
    first = start_worker(concurrency=4)
    for i in range(PEOPLE):
        person = User.objects.create_user(
            email=f"killed{i:02d}@example.com", password=None, name=f"Killed {i}"
        )
        User.objects.filter(pk=person.pk).update(
            email_verified_at=person.date_joined, approved_at=person.date_joined
        )
        person.refresh_from_db()
        librechat_accounts.account_create(person=person)  # the LibreChat part of the chain

    deadline = time.monotonic() + 30
    while LibreChatAccount.objects.filter(status=AccountStatus.READY).count() < 4:
        assert time.monotonic() < deadline, first.log()[-3000:]
        time.sleep(0.05)
    in_flight_calls = sum(sim.calls.values())
    first.kill()
    ready_at_kill = LibreChatAccount.objects.filter(status=AccountStatus.READY).count()
    assert 0 < ready_at_kill < PEOPLE

    sim.clear_faults()
    second = start_worker(concurrency=4)
    queue = network_queue_name(NETWORK)
    tick_until(
        lambda: LibreChatAccount.objects.filter(status=AccountStatus.READY).count() == PEOPLE,
        lambda: librechat_tick(broker_url=redis_url, queue=queue),
        timeout=60,
        log=second.log,
    )

    emails = Counter(email for email in sim.users if email.startswith("killed"))
    duplicates = sum(n - 1 for n in emails.values())
    assert len(emails) == PEOPLE and duplicates == 0
    assert LibreChatAccount.objects.count() == PEOPLE
    live = Counter(
        LibreChatSession.objects.filter(revoked_at__isnull=True).values_list("account_id", flat=True)
    )
    assert len(live) == PEOPLE and max(live.values()) == 1
    for account in LibreChatAccount.objects.all():
        assert sim.check_password(account.email, account.password.reveal())
    proof_line(
        f"faults: worker_killed people={PEOPLE} ready_at_kill={ready_at_kill} calls_before_kill={in_flight_calls} "
        f"finished={LibreChatAccount.objects.filter(status=AccountStatus.READY).count()} duplicates={duplicates}"
    )
