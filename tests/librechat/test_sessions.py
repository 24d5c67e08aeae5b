"""The portal's server-side LibreChat sessions: stored, refreshed, logged in again, revoked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from integrations.http import VendorHTTPError
from integrations.librechat import accounts, provisioning, sessions
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatSession
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db

MakeAccount = Callable[..., LibreChatAccount]


@pytest.fixture
def ready(sim: LibreChatSimulator, make_account: MakeAccount) -> LibreChatAccount:
    account = make_account()
    provisioning.account_provision(account_id=account.pk)
    account.refresh_from_db()
    assert account.status == AccountStatus.READY
    sim.reset_calls()
    return account


def live(account: LibreChatAccount) -> LibreChatSession:
    return LibreChatSession.objects.get(account=account, revoked_at__isnull=True)


def expire_access(account: LibreChatAccount) -> None:
    LibreChatSession.objects.filter(account=account).update(access_expires_at=timezone.now())


def test_it_hands_out_the_stored_token_without_calling_librechat(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    token, expires_at = sessions.session_access_token(account=ready)
    assert token == live(ready).access_token and expires_at > timezone.now()
    assert sum(sim.calls.values()) == 0
    assert sessions.session_live(account=ready) is not None


def test_it_refreshes_an_expired_access_token_with_the_stored_refresh_token(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    old_refresh = live(ready).refresh_token
    expire_access(ready)
    sim.advance_clock(2)
    token, _ = sessions.session_access_token(account=ready)
    assert sim.calls[("POST", "/api/auth/refresh")] == 1 and sim.calls[("POST", "/api/auth/login")] == 0
    session = live(ready)
    assert session.refresh_token != old_refresh and session.refreshed_at is not None
    assert LibreChatSession.objects.filter(account=ready).count() == 1
    from integrations.librechat.client import client_for

    assert client_for(sim.base_url).current_user(access_token=token.reveal()).email == "ann@example.com"


def test_it_logs_in_again_when_the_refresh_token_was_refused(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    expire_access(ready)
    for session in sim.sessions_for("ann@example.com"):
        sim._sessions.pop(session.id)  # LibreChat forgot the session (e.g. a password reset)
    sessions.session_access_token(account=ready)
    assert sim.calls[("POST", "/api/auth/refresh")] == 1 and sim.calls[("POST", "/api/auth/login")] == 1
    assert LibreChatSession.objects.filter(account=ready, revoked_at__isnull=False).count() == 1
    assert live(ready).access_expires_at > timezone.now()


def test_it_logs_in_without_trying_an_expired_refresh_token(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    LibreChatSession.objects.filter(account=ready).update(
        access_expires_at=timezone.now(), refresh_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    sessions.session_access_token(account=ready)
    assert sim.calls[("POST", "/api/auth/refresh")] == 0 and sim.calls[("POST", "/api/auth/login")] == 1


def test_it_refuses_an_account_that_is_not_ready(make_account: MakeAccount) -> None:
    with pytest.raises(sessions.AccountNotReady):
        sessions.session_access_token(account=make_account())


def test_it_provisions_again_when_librechat_no_longer_takes_the_password(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    expire_access(ready)
    LibreChatSession.objects.filter(account=ready).update(refresh_expires_at=timezone.now())
    sim.users["ann@example.com"].password_hash = "pbkdf2$00$00"  # changed inside LibreChat
    with pytest.raises(VendorHTTPError):
        sessions.session_access_token(account=ready)
    ready.refresh_from_db()
    assert ready.status == AccountStatus.WAITING
    provisioning.account_provision(account_id=ready.pk)
    ready.refresh_from_db()
    assert ready.status == AccountStatus.READY  # taken over with a reset (no email service)


def test_it_revokes_at_once_and_logs_the_session_out_of_librechat(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    session = live(ready)
    assert sessions.sessions_revoke(account=ready) == 1
    assert sessions.session_live(account=ready) is None
    assert len(sim.sessions_for("ann@example.com")) == 1
    assert sessions.session_logout(session_id=session.pk) == "logged out"
    assert sim.sessions_for("ann@example.com") == []
    session.refresh_from_db()
    assert session.access_token is None and session.refresh_token is None and session.logged_out_at


def test_it_logs_out_a_session_whose_access_token_expired(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    session = live(ready)
    expire_access(ready)
    sessions.sessions_revoke(account=ready)
    sim.advance_clock(2)
    assert sessions.session_logout(session_id=session.pk) == "logged out"
    assert sim.sessions_for("ann@example.com") == []


def test_it_resets_the_librechat_password_where_librechat_allows_it(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    old = ready.password.reveal()
    assert accounts.account_password_reset(account_id=ready.pk) == "password reset"
    ready.refresh_from_db()
    assert ready.password.reveal() != old and sim.check_password("ann@example.com", ready.password.reveal())
    assert sessions.session_live(account=ready) is None
    sessions.session_access_token(account=ready)
    assert sim.calls[("POST", "/api/auth/login")] == 1


def test_it_does_not_reset_when_librechat_emails_the_link(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    sim.configure(email_service=True)
    assert "only by email" in accounts.account_password_reset(account_id=ready.pk)
    assert sim.outbox == []


def test_it_hands_revoked_sessions_never_logged_out_to_the_beat(
    sim: LibreChatSimulator, ready: LibreChatAccount
) -> None:
    session = live(ready)
    sessions.sessions_revoke(account=ready)
    assert sessions.sessions_logout_due() == 0  # the wake-up message may still be on its way
    LibreChatSession.objects.filter(pk=session.pk).update(revoked_at=timezone.now() - dt.timedelta(minutes=6))
    assert sessions.sessions_logout_due() == 1
    sessions.session_logout(session_id=session.pk)
    assert sessions.sessions_logout_due() == 0
