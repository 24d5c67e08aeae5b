"""Provisioning a person's LibreChat account: every outcome, against the simulator."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations.librechat import accounts, provisioning
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from tests.mailbox import deliver_queued_mail
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db

MakeAccount = Callable[..., LibreChatAccount]


@pytest.fixture(autouse=True)
def staff(django_user_model) -> None:
    django_user_model.objects.create_user(email="ops@example.com", password=None, is_staff=True)


def provision(account: LibreChatAccount) -> LibreChatAccount:
    provisioning.account_provision(account_id=account.pk)
    account.refresh_from_db()
    return account


def calls(sim: LibreChatSimulator) -> int:
    return sum(sim.calls.values())


def test_it_registers_then_logs_in_and_keeps_that_login_as_the_session(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.add_user("first@example.com", "whatever-password")  # so ours is not LibreChat's first (ADMIN)
    account = provision(make_account())
    assert account.status == AccountStatus.READY and account.status_line == "ready"
    assert account.librechat_user_id == sim.users["ann@example.com"].id
    assert account.role == "USER" and account.provisioned_at is not None
    assert sim.check_password("ann@example.com", account.password.reveal())
    assert sim.calls[("POST", "/api/auth/register")] == 1 and sim.calls[("POST", "/api/auth/login")] == 1
    session = LibreChatSession.objects.get(account=account, revoked_at__isnull=True)
    assert session.access_expires_at > timezone.now()


def test_it_generates_a_long_password_of_its_own(make_account: MakeAccount) -> None:
    account = make_account()
    assert len(account.password.reveal()) >= 40
    assert account.password.reveal() != "portal password 1"


def test_it_does_nothing_for_an_account_already_ready(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    account = provision(make_account())
    before = calls(sim)
    assert provisioning.account_provision(account_id=account.pk).status == "ready"
    assert calls(sim) == before


def test_it_takes_over_a_stale_account_when_librechat_resets_without_email(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.add_user("ann@example.com", "a password the person chose")
    account = provision(make_account())
    assert account.status == AccountStatus.READY
    assert sim.check_password("ann@example.com", account.password.reveal())
    assert sim.calls[("POST", "/api/auth/requestPasswordReset")] == 1


def test_it_needs_attention_when_a_stale_account_can_only_be_reset_by_email(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.configure(email_service=True)
    sim.add_user("ann@example.com", "a password the person chose")
    account = provision(make_account())
    assert account.status == AccountStatus.NEEDS_ATTENTION
    assert "delete-user" in account.last_error and "ALLOW_PASSWORD_RESET" in account.last_error
    assert sim.outbox == []  # LibreChat mailed the person no reset link they never asked for
    assert sim.calls[("POST", "/api/auth/requestPasswordReset")] == 0
    assert account.status_line == "needs attention: staff must fix your LibreChat account"
    assert [m.to for m in deliver_queued_mail()] == [["ops@example.com"]]
    accounts.accounts_retry(accounts=LibreChatAccount.objects.filter(pk=account.pk))
    provision(account)
    assert len(deliver_queued_mail()) == 1  # once per account, not per attempt


def test_it_needs_attention_when_password_reset_is_off(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.configure(allow_password_reset=False)
    sim.add_user("ann@example.com", "a password the person chose")
    account = provision(make_account())
    assert account.status == AccountStatus.NEEDS_ATTENTION
    assert "password reset is off there (ALLOW_PASSWORD_RESET)" in account.last_error


def test_it_closes_the_shared_gate_on_429_and_stops_calling_register(
    sim: LibreChatSimulator, make_account: MakeAccount, server: LibreChatServer
) -> None:
    sim.configure(register_max=1, register_window_s=600)
    assert provision(make_account("a@example.com")).status == AccountStatus.READY
    second = provision(make_account("b@example.com"))
    assert second.status == AccountStatus.WAITING
    assert second.last_error.startswith("waiting: LibreChat's REGISTER_MAX reached, next try at ")
    assert "raise REGISTER_MAX" in second.last_error
    server.refresh_from_db()
    assert server.register_blocked_until is not None
    assert timezone.now() + dt.timedelta(seconds=500) < server.register_blocked_until
    assert second.next_attempt_at == server.register_blocked_until
    before = sim.calls[("POST", "/api/auth/register")]
    third = provision(make_account("c@example.com"))
    assert third.status == AccountStatus.WAITING
    assert sim.calls[("POST", "/api/auth/register")] == before  # the gate held: no call


def test_it_reads_the_login_limit_as_its_own_gate(
    sim: LibreChatSimulator, make_account: MakeAccount, server: LibreChatServer
) -> None:
    sim.configure(login_max=0, login_window_s=300)
    account = provision(make_account())
    assert account.status == AccountStatus.WAITING and "LOGIN_MAX" in account.last_error
    assert account.registered_at is not None  # the next try logs in without registering again
    server.refresh_from_db()
    assert server.login_blocked_until is not None and server.register_blocked_until is None
    sim.configure(login_max=10)
    sim.reset_rate_limits()
    LibreChatServer.objects.filter(pk=server.pk).update(login_blocked_until=None)
    before = sim.calls[("POST", "/api/auth/register")]
    assert provision(account).status == AccountStatus.READY
    assert sim.calls[("POST", "/api/auth/register")] == before


def test_it_retries_transient_failures_with_capped_backoff(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.set_faults(status_override=502)
    account = provision(make_account())
    assert account.status == AccountStatus.WAITING and account.attempts == 1
    assert "502" in account.last_error
    assert account.status_line == "waiting: LibreChat is not answering yet"
    assert account.next_attempt_at is not None
    delay = (account.next_attempt_at - timezone.now()).total_seconds()
    assert 25 < delay <= 34
    LibreChatAccount.objects.filter(pk=account.pk).update(attempts=40)
    account = provision(account)
    assert account.next_attempt_at is not None
    delay = (account.next_attempt_at - timezone.now()).total_seconds()
    assert 1700 < delay <= 1800 * 1.1 and account.status == AccountStatus.WAITING
    sim.clear_faults()
    assert provision(account).status == AccountStatus.READY


def test_it_retries_a_temporary_ban(sim: LibreChatSimulator, make_account: MakeAccount) -> None:
    sim.ban_ip("127.0.0.1")
    account = provision(make_account())
    assert account.status == AccountStatus.WAITING and "temporarily banned" in account.last_error


def test_it_retries_when_librechat_is_down(
    make_account: MakeAccount, server: LibreChatServer, unused_tcp_port: int
) -> None:
    down = f"http://127.0.0.1:{unused_tcp_port}"
    # A confirmed move (an unconfirmed one waits for staff: tests/security/test_attacks_hosts.py).
    LibreChatServer.objects.filter(pk=server.pk).update(
        api_url=down, confirmed_address=f"{down} on backend-dev"
    )
    account = provision(make_account())
    assert account.status == AccountStatus.WAITING and "Connection refused" in account.last_error


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda sim: sim.configure(allow_registration=False), "ALLOW_REGISTRATION=true"),
        (lambda sim: sim.configure(allowed_domains=["corp.example"]), "registration.allowedDomains"),
        (
            lambda sim: sim.configure(email_service=True, allow_unverified_email_login=False),
            "ALLOW_UNVERIFIED_EMAIL_LOGIN=true",
        ),
        (lambda sim: sim.configure(allow_email_login=False), "ALLOW_EMAIL_LOGIN=true"),
    ],
)
def test_it_needs_attention_for_permanent_causes(
    sim: LibreChatSimulator,
    make_account: MakeAccount,
    setup: Callable[[LibreChatSimulator], None],
    words: str,
) -> None:
    setup(sim)
    account = provision(make_account())
    assert account.status == AccountStatus.NEEDS_ATTENTION and words in account.last_error
    assert account.next_attempt_at is None
    assert len(deliver_queued_mail()) == 1 and "needs attention" in deliver_queued_mail()[0].subject
    body = deliver_queued_mail()[0].body
    assert words in body and f"/admin/librechat/librechataccount/{account.pk}/change/" in body


def test_it_needs_attention_for_2fa(sim: LibreChatSimulator, make_account: MakeAccount) -> None:
    account = make_account()
    sim.add_user("ann@example.com", account.password.reveal(), two_fa=True)
    account = provision(account)
    assert account.status == AccountStatus.NEEDS_ATTENTION and "two-factor" in account.last_error


def test_it_reports_librechat_validation_errors(sim: LibreChatSimulator, make_account: MakeAccount) -> None:
    account = make_account()
    LibreChatAccount.objects.filter(pk=account.pk).update(name="Al")
    account = provision(account)
    assert account.status == AccountStatus.NEEDS_ATTENTION
    assert "name: String must contain at least 3 character(s)" in account.last_error


def test_it_links_an_account_that_exists_although_registration_closed(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    account = make_account()
    sim.add_user("ann@example.com", account.password.reveal())
    sim.configure(allow_registration=False)
    assert provision(account).status == AccountStatus.READY


def test_it_warns_staff_loudly_when_its_account_becomes_librechat_admin(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    account = provision(make_account())
    assert account.role == "ADMIN" and account.status == AccountStatus.READY
    assert len(deliver_queued_mail()) == 1 and "ADMIN" in deliver_queued_mail()[0].subject
    assert "first account ever" in deliver_queued_mail()[0].body


def test_it_registers_again_when_librechat_lost_the_account(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    account = make_account()
    LibreChatAccount.objects.filter(pk=account.pk).update(registered_at=timezone.now())
    account = provision(account)
    assert account.status == AccountStatus.WAITING and account.registered_at is None
    assert provision(account).status == AccountStatus.READY


def test_it_never_puts_the_password_in_errors_or_logs(
    sim: LibreChatSimulator, make_account: MakeAccount, caplog: pytest.LogCaptureFixture
) -> None:
    sim.configure(allow_registration=False)
    account = provision(make_account())
    password = account.password.reveal()
    assert password not in account.last_error and password not in caplog.text
    assert all(password not in m.body for m in deliver_queued_mail())


def test_it_picks_up_due_rows_and_leases_them(make_account: MakeAccount) -> None:
    due = make_account("a@example.com")
    later = make_account("b@example.com")
    ready = make_account("c@example.com")
    now = timezone.now()
    LibreChatAccount.objects.filter(pk=due.pk).update(next_attempt_at=now - dt.timedelta(seconds=1))
    LibreChatAccount.objects.filter(pk=later.pk).update(next_attempt_at=now + dt.timedelta(minutes=1))
    LibreChatAccount.objects.filter(pk=ready.pk).update(status=AccountStatus.READY, next_attempt_at=now)
    assert accounts.accounts_provision_due() == 1
    due.refresh_from_db()
    assert due.next_attempt_at is not None and due.next_attempt_at > now + dt.timedelta(
        minutes=4
    )  # leased: not handed out twice
    assert accounts.accounts_provision_due() == 0


@pytest.mark.django_db(transaction=True)
def test_it_skips_an_account_another_worker_holds(sim: LibreChatSimulator, make_account: MakeAccount) -> None:
    account = make_account()
    locked = threading.Event()
    release = threading.Event()

    def other_worker() -> None:
        with transaction.atomic():
            LibreChatAccount.objects.select_for_update().get(pk=account.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert provisioning.account_provision(account_id=account.pk).status == "busy"
        assert sum(sim.calls.values()) == 0
    finally:
        release.set()
        thread.join()
    assert provisioning.account_provision(account_id=account.pk).status == "ready"


def test_it_leaves_an_account_that_needs_attention_to_staff(
    sim: LibreChatSimulator, make_account: MakeAccount
) -> None:
    sim.configure(allow_registration=False)
    account = provision(make_account())
    before = sum(sim.calls.values())
    assert provisioning.account_provision(account_id=account.pk).status == "needs_attention"
    assert sum(sim.calls.values()) == before  # a late wake-up message calls nobody


def test_it_needs_attention_when_the_stored_password_cannot_be_decrypted(
    sim: LibreChatSimulator, make_account: MakeAccount, settings
) -> None:
    from cryptography.fernet import Fernet

    account = make_account()
    settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(),)  # the key it was written with is gone
    provisioning.account_provision(account_id=account.pk)
    account = LibreChatAccount.objects.get(pk=account.pk)
    assert account.status == AccountStatus.NEEDS_ATTENTION and "FERNET_KEYS" in account.last_error
    assert sum(sim.calls.values()) == 0


@pytest.mark.parametrize(
    ("name", "email", "expected"),
    [
        ("  Ann   Example ", "ann@example.com", "Ann Example"),
        ("", "bob@example.com", "bob"),
        ("", "al@example.com", "al (portal)"),
        ("X" * 100, "x@example.com", "X" * 80),
    ],
)
def test_it_makes_a_name_librechat_accepts(name: str, email: str, expected: str) -> None:
    assert accounts.display_name(name, email) == expected  # 3 to 80 characters (contract "Register")


def test_the_outcome_is_the_kits_work_result(sim: LibreChatSimulator, make_account: MakeAccount) -> None:
    from portal.core.work import Outcome, WorkResult

    account = make_account()
    outcome = provisioning.account_provision(account_id=account.pk)
    assert isinstance(outcome, WorkResult)
    assert (outcome.work, outcome.id, outcome.outcome, outcome.status) == (
        "librechat_account",
        account.pk,
        Outcome.DONE,
        "ready",
    )
    gone = provisioning.account_provision(account_id=999_999)
    assert (gone.outcome, gone.status) == (Outcome.GONE, "gone")
