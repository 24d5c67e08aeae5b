"""300 signups while LibreChat fails (500s, hangs, a rate-limit window): after recovery every
person has exactly one LibreChat account, nobody failed, nothing is duplicated."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.core.queues import network_queue_name
from tests.faults.beat import librechat_tick, tick_until
from tests.faults.conftest import NETWORK
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE = 300
PASSWORD = "a long portal passphrase 7"


def test_it_gives_300_people_one_librechat_account_each_through_faults(
    librechat_sim: LibreChatSimulator,
    librechat_server: LibreChatServer,
    start_worker: Callable[..., CeleryWorker],
    redis_url: str,
    proof_line: Callable[[str], None],
) -> None:
    sim = librechat_sim
    # 30% answered 500, 10% never answered (the worker's read timeout is 1 s), and LibreChat's
    # per-IP limiters closing for 1.5 s windows (contract "Register", "Login").
    sim.configure(register_max=10, register_window_s=1.5, login_max=10, login_window_s=1.5)
    sim.set_faults(error_rate=0.3, hang_rate=0.1, hang_max_s=2.0)
    worker = start_worker()
    started = time.monotonic()

    failed_signups = 0
    for i in range(PEOPLE):
        email = f"person{i:03d}@example.com"
        result = accounts.person_signup(
            email=email, name=f"Person {i}", password=PASSWORD, verify_url="http://testserver/v/{token}/"
        )
        if result.person is None:
            failed_signups += 1
            continue
        verified = accounts.verification_person(token=accounts.verification_token_make(person=result.person))
        failed_signups += verified is None
        if verified is not None:
            accounts.person_email_proven(person=verified)

    queue = network_queue_name(NETWORK)
    tick = lambda: librechat_tick(broker_url=redis_url, queue=queue)  # noqa: E731
    # What the rows said while LibreChat misbehaved (each row's last error, sampled per tick).
    timed_out: set[int] = set()
    answered_500: set[int] = set()
    faulty_until = time.monotonic() + 8
    while time.monotonic() < faulty_until:
        tick()
        waiting = LibreChatAccount.objects.filter(status=AccountStatus.WAITING)
        timed_out.update(
            waiting.filter(last_error__contains="sent no answer within").values_list("pk", flat=True)
        )
        answered_500.update(waiting.filter(last_error__contains="500").values_list("pk", flat=True))
        time.sleep(0.5)
    ready_at_recovery = LibreChatAccount.objects.filter(status=AccountStatus.READY).count()
    sim.clear_faults()
    sim.configure(register_max=10_000, login_max=10_000)

    def all_ready() -> bool:
        return LibreChatAccount.objects.filter(status=AccountStatus.READY).count() == PEOPLE

    tick_until(all_ready, tick, timeout=120, log=worker.log)
    wall = time.monotonic() - started

    assert failed_signups == 0
    assert User.objects.filter(email__startswith="person").count() == PEOPLE
    assert not LibreChatAccount.objects.exclude(status=AccountStatus.READY).exists()
    librechat_emails = Counter(email for email in sim.users if email.startswith("person"))
    duplicates = sum(n - 1 for n in librechat_emails.values())
    assert len(librechat_emails) == PEOPLE and duplicates == 0
    for account in LibreChatAccount.objects.all():
        assert sim.check_password(account.email, account.password.reveal()), account.email
    live = Counter(
        LibreChatSession.objects.filter(revoked_at__isnull=True).values_list("account_id", flat=True)
    )
    assert len(live) == PEOPLE and max(live.values()) == 1
    assert ready_at_recovery < PEOPLE  # the faults really were in the way
    assert timed_out and answered_500
    gate_closures = worker.log().count("gate closed until")
    assert gate_closures > 0  # LibreChat's limiter answered 429 and the portal waited it out
    proof_line(
        f"faults: signups={PEOPLE} accounts={len(librechat_emails)} duplicates={duplicates} "
        f"failed={failed_signups} register_calls={sim.calls[('POST', '/api/auth/register')]} "
        f"people_timed_out={len(timed_out)} people_500={len(answered_500)} rate_limit_gates={gate_closures} "
        f"ready_at_recovery={ready_at_recovery} wall={wall:.1f}s"
    )
