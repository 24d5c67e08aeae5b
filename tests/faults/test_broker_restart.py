"""A private Redis broker restarted without persistence while provisioning is queued: every
wake-up message is gone, yet no person is left unprovisioned (the rows say what is due)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from integrations.librechat import accounts as librechat_accounts
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
from portal.accounts.models import User
from portal.core.queues import network_queue_name
from tests.faults.beat import librechat_tick, queue_depth, tick_until
from tests.faults.conftest import NETWORK
from tests.faults.private_redis import PrivateRedis
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE = 50


def test_it_provisions_everyone_after_the_broker_forgot_the_queue(
    librechat_sim: LibreChatSimulator,
    librechat_server: LibreChatServer,
    private_redis: PrivateRedis,
    portal_broker: str,
    start_worker: Callable[..., CeleryWorker],
    proof_line: Callable[[str], None],
) -> None:
    queue = network_queue_name(NETWORK)
    for i in range(PEOPLE):
        person = User.objects.create_user(
            email=f"queued{i:02d}@example.com", password=None, name=f"Queued {i}"
        )
        User.objects.filter(pk=person.pk).update(
            email_verified_at=person.date_joined, approved_at=person.date_joined
        )
        person.refresh_from_db()
        librechat_accounts.account_create(person=person)  # the LibreChat part of the chain
    queued = queue_depth(private_redis.url, queue)
    assert queued == PEOPLE  # the wake-ups wait in the broker: no worker runs yet

    private_redis.kill()
    private_redis.start()
    assert queue_depth(private_redis.url, queue) == 0  # the restart lost every message

    worker = start_worker(broker_url=private_redis.url)
    started = time.monotonic()
    tick_until(
        lambda: LibreChatAccount.objects.filter(status=AccountStatus.READY).count() == PEOPLE,
        lambda: librechat_tick(broker_url=private_redis.url, queue=queue),
        timeout=60,
        log=worker.log,
    )
    assert len([e for e in librechat_sim.users if e.startswith("queued")]) == PEOPLE
    proof_line(
        f"faults: broker_restart queued={queued} lost_messages={queued} provisioned={PEOPLE} "
        f"unprovisioned=0 wall={time.monotonic() - started:.1f}s"
    )


def test_it_provisions_everyone_when_the_broker_restarts_under_a_running_worker(
    librechat_sim: LibreChatSimulator,
    librechat_server: LibreChatServer,
    private_redis: PrivateRedis,
    portal_broker: str,
    start_worker: Callable[..., CeleryWorker],
    proof_line: Callable[[str], None],
) -> None:
    librechat_sim.set_faults(latency=0.3)  # slow enough that most work is still queued
    worker = start_worker(broker_url=private_redis.url, concurrency=2)
    queue = network_queue_name(NETWORK)
    for i in range(PEOPLE):
        person = User.objects.create_user(
            email=f"running{i:02d}@example.com", password=None, name=f"Running {i}"
        )
        User.objects.filter(pk=person.pk).update(
            email_verified_at=person.date_joined, approved_at=person.date_joined
        )
        person.refresh_from_db()
        librechat_accounts.account_create(person=person)  # the LibreChat part of the chain
    deadline = time.monotonic() + 30
    while LibreChatAccount.objects.filter(status=AccountStatus.READY).count() < 2:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.05)

    private_redis.kill()  # the queue, the unacked messages and the results are gone
    private_redis.start()
    ready_at_restart = LibreChatAccount.objects.filter(status=AccountStatus.READY).count()
    assert ready_at_restart < PEOPLE
    librechat_sim.clear_faults()
    started = time.monotonic()
    tick_until(
        lambda: LibreChatAccount.objects.filter(status=AccountStatus.READY).count() == PEOPLE,
        lambda: librechat_tick(broker_url=private_redis.url, queue=queue),
        timeout=90,
        log=worker.log,
    )
    assert len([e for e in librechat_sim.users if e.startswith("running")]) == PEOPLE
    # The same worker did it: a task that ended after the loss did not stop it (broker_loss).
    assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
    assert "Unrecoverable error" not in worker.log()
    proof_line(
        f"faults: broker_restart_under_worker people={PEOPLE} ready_at_restart={ready_at_restart} "
        f"provisioned={PEOPLE} unprovisioned=0 recovery={time.monotonic() - started:.1f}s"
    )
