"""Signup never waits on LibreChat, and one worker provisions people quickly and frugally.

1. Signup (and verification) request p95 with the LibreChat simulator answering in 3 s,
   divided by p95 with it answering at once, interleaved so drift hits both alike, while a
   worker provisions the verified people against that simulator in the background
   (goal <= 1.2: the request never waits on LibreChat).
2. 500 verified people provisioned by one worker (concurrency 4) against the simulator at
   20 ms latency: people per second (goal >= 20) and LibreChat calls per person (goal <= 2).
"""

from __future__ import annotations

import os
import re
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

from bench import size

if TYPE_CHECKING:
    from integrations.librechat.models import LibreChatServer
    from tests.simulators.librechat import LibreChatSimulator

SIGNUP_SAMPLES = size(30, 5)
PEOPLE = size(500, 40)
WORKER_CONCURRENCY = 4
PASSWORD = "a long bench passphrase 42"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def run() -> None:
    from django.conf import settings

    settings.PORTAL_SIGNUP_RATE = (1_000_000, 3600)
    from tests.simulators.librechat import LibreChatSimulator

    with LibreChatSimulator(register_max=1_000_000, login_max=1_000_000) as sim:
        server = _bench_server(sim.base_url)
        try:
            worker = _worker(server)
            try:
                _signup_latency(sim)
                _background_settled(sim, server)
            finally:
                worker.stop()
            _provisioning_throughput(sim, server)
        finally:
            _cleanup()


def _bench_server(base_url: str) -> LibreChatServer:
    from integrations.librechat.models import LibreChatServer

    _cleanup()
    LibreChatServer.objects.update(accepts_new_accounts=False)
    server, _ = LibreChatServer.objects.update_or_create(
        name="bench-librechat",
        defaults={"api_url": base_url, "network": "bench", "accepts_new_accounts": True},
    )
    # Each run's simulator has a new port: the bench is the operator confirming that address
    # (an unconfirmed LibreChat address gets no person's credentials; the workers wait).
    LibreChatServer.objects.filter(pk=server.pk).update(confirmed_address=server.address)
    server.refresh_from_db()
    return server


def _worker(server: LibreChatServer) -> Any:
    from portal.core.queues import network_queue_name
    from tests.workers import CeleryWorker

    worker = CeleryWorker(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ["REDIS_URL"],
        queues=[network_queue_name(server.network)],
        concurrency=WORKER_CONCURRENCY,
    )
    worker.start()
    return worker


def _cleanup() -> None:
    from integrations.librechat.models import LibreChatAccount
    from portal.accounts.models import SignupMode, SignupPolicy, User

    LibreChatAccount.objects.filter(person__email__endswith="@bench.example").delete()
    User.objects.filter(email__endswith="@bench.example").delete()
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)


def _signup_latency(sim: LibreChatSimulator) -> None:
    from django.test import Client

    from tests.mailbox import portal_mail

    client = Client()
    timings: dict[float, list[float]] = {0.0: [], 3.0: []}
    verify_timings: dict[float, list[float]] = {0.0: [], 3.0: []}
    run_id = uuid.uuid4().hex[:8]
    for n in range(SIGNUP_SAMPLES):
        for latency in (0.0, 3.0):
            sim.set_faults(latency=latency)
            email = f"s{run_id}-{n}-{int(latency)}@bench.example"
            data = {"email": email, "name": "Bench Person", "password1": PASSWORD, "password2": PASSWORD}
            started = time.perf_counter()
            response = client.post("/accounts/signup/", data)
            timings[latency].append(time.perf_counter() - started)
            assert response.status_code == 302, response.content[:300]
            body = portal_mail()[-1].body.reveal()  # the outbox row the worker would send
            link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", body)
            assert link, body
            started = time.perf_counter()
            client.post(link.group(1), {"password": PASSWORD})  # confirming signs the person in
            verify_timings[latency].append(time.perf_counter() - started)
            client.logout()
    sim.clear_faults()
    slow, fast = p95(timings[3.0]), p95(timings[0.0])
    vslow, vfast = p95(verify_timings[3.0]), p95(verify_timings[0.0])
    print(
        f"signup: p95_librechat_3s={slow:.3f}s p95_librechat_instant={fast:.3f}s ratio={slow / fast:.2f} (goal <= 1.2)",
        flush=True,
    )
    print(
        f"signup_verify: p95_librechat_3s={vslow:.3f}s p95_librechat_instant={vfast:.3f}s "
        f"ratio={vslow / vfast:.2f} (goal <= 1.2)",
        flush=True,
    )


def _background_settled(sim: LibreChatSimulator, server: LibreChatServer) -> None:
    """Let the worker finish provisioning the signup part's people before it is stopped: a
    worker stopped mid-request leaves half-done accounts and the simulator writing to closed
    sockets, and the call count below would be a snapshot of work in flight."""
    from integrations.librechat.models import AccountStatus, LibreChatAccount
    from portal.accounts.models import User

    people = User.objects.filter(email__endswith="@bench.example").count()
    deadline = time.monotonic() + 120
    ready = 0
    while time.monotonic() < deadline:
        ready = LibreChatAccount.objects.filter(server=server, status=AccountStatus.READY).count()
        if ready >= people:
            break
        time.sleep(0.1)
    print(
        f"signup: provisioned_in_background={ready}/{people} "
        f"librechat_calls_by_the_background_worker={sum(sim.calls.values())}",
        flush=True,
    )


def _provisioning_throughput(sim: LibreChatSimulator, server: LibreChatServer) -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from integrations.librechat import accounts as librechat
    from integrations.librechat.models import AccountStatus, LibreChatAccount
    from portal.accounts.models import User
    from portal.celery import app
    from portal.core.queues import network_queue_name

    queue = network_queue_name(server.network)
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        channel.queue_purge(queue)  # wake-ups left by the signup part
    LibreChatAccount.objects.filter(server=server).delete()
    User.objects.filter(email__endswith="@bench.example").delete()  # the signup part's people
    sim.reset()
    sim.configure(register_max=1_000_000, login_max=1_000_000)
    sim.add_user("operator@bench.example", "operator-password")  # LibreChat's first (ADMIN) account
    sim.reset_calls()
    sim.set_faults(latency=0.020)

    now = timezone.now()
    unusable = make_password(None)
    User.objects.bulk_create(
        [
            User(
                email=f"p{n}@bench.example",
                name=f"Bench Person {n}",
                password=unusable,
                email_verified_at=now,
                approved_at=now,
            )
            for n in range(PEOPLE)
        ],
        batch_size=500,
    )
    worker = _worker(server)
    try:
        started = time.perf_counter()
        # What "provision every verified person" does, for this run's people only: the bench
        # database is shared, and other runs' people are not ours to provision.
        people = User.objects.filter(email__endswith="@bench.example", librechat_account__isnull=True)
        created = 0
        for person in people.iterator(chunk_size=500):
            with transaction.atomic():
                created += librechat.account_create(person=person, server=server) is not None
        assert created == PEOPLE, created
        deadline = time.monotonic() + 600
        ready = 0
        while time.monotonic() < deadline:
            ready = LibreChatAccount.objects.filter(server=server, status=AccountStatus.READY).count()
            if ready >= PEOPLE:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    problems = LibreChatAccount.objects.filter(server=server).exclude(status=AccountStatus.READY)
    calls = sum(sim.calls.values())
    print(
        f"provisioning: people={ready}/{PEOPLE} seconds={elapsed:.1f} people_per_second={ready / elapsed:.1f} "
        f"(goal >= 20) librechat_calls_per_person={calls / max(ready, 1):.2f} (goal <= 2) "
        f"not_ready={problems.count()}",
        flush=True,
    )
