"""Provisioning a person's LibreChat account, in a task on the server's network queue:
register, confirm by logging in, keep that login as the session; take over a stale account
where LibreChat hands the reset link back. Read top to bottom:

    account_provision (row lock) -> _provision_locked -> _register_and_log_in
        -> register (gated) -> _login_or_take_over
        -> login (gated) | _take_over (reset request, reset, login)
    -> _ready (session_store) | _not_yet (waiting or needs attention) -> _alert_once (mail)

Every outcome is written on the row (waiting with its next attempt, needs attention with what
to do, ready) and staff are mailed once per problem; no vendor failure raises to the task.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from integrations.http import ErrorKind, VendorError, VendorHTTPError
from integrations.librechat.client import VENDOR, LibreChatTwoFactorPending, SessionTokens
from integrations.librechat.gate import LIMITERS, GateClosed, gated
from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.librechat.servers import CONFIRM_NOTE, AddressUnconfirmed, client_for
from integrations.librechat.sessions import session_store
from portal.core import mail
from portal.core.work import Outcome, RetryPolicy, WorkResult, take_locked
from portal.crypto import DecryptionError

log = logging.getLogger(__name__)

# Doubling from 30 s to at most 30 min. A person waits for LibreChat as long as it takes (it
# is down, its limits are reached, staff confirm its address): provisioning never gives up,
# so the attempts limit is never reached; causes no retry fixes are `NeedsAttention`.
RETRY = RetryPolicy(base_seconds=30, cap_seconds=30 * 60, max_attempts=2**31)
FIX_IT = "staff must fix your LibreChat account"


class NeedsAttention(Exception):
    """A cause no retry can fix: `str(self)` says what to do."""

    def __init__(self, message: str, *, note: str = FIX_IT) -> None:
        super().__init__(message)
        self.note = note


class RegisterAgain(VendorError):
    """LibreChat knows no such email although it answered the registration: the account was
    removed there. Retryable: the next attempt registers it again."""

    def __init__(self, email: str, *, url: str) -> None:
        message = f"LibreChat has no account for {email} (removed?); registering it again"
        super().__init__(message, kind=ErrorKind.HTTP_STATUS, retryable=True, vendor=VENDOR, url=url)


# The account's status word for each outcome of the work (what the task returns).
STATUS_OF = {
    Outcome.DONE: "ready",
    Outcome.RETRY: "waiting",
    Outcome.FAILED: "needs_attention",
    Outcome.BUSY: "busy",
    Outcome.GONE: "gone",
}


@dataclass(frozen=True)
class ProvisionOutcome(WorkResult):
    """The kit's WorkResult of one provisioning, with the account's word for it in `status`
    (ready | waiting | needs_attention | busy | gone)."""

    @property
    def status(self) -> str:
        return STATUS_OF[self.outcome]


def _result(account_id: int, outcome: Outcome, detail: str = "") -> ProvisionOutcome:
    return ProvisionOutcome(work="librechat_account", id=account_id, outcome=outcome, detail=detail)


PROVISION_FIELDS = [
    "status",
    "status_note",
    "last_error",
    "attempts",
    "next_attempt_at",
    "registered_at",
    "provisioned_at",
    "librechat_user_id",
    "username",
    "role",
    "staff_alerted_at",
    "updated_at",
]


def account_provision(*, account_id: int) -> ProvisionOutcome:
    """Register, confirm by logging in, keep that login as the session. Exact and idempotent:
    the row lock (SKIP LOCKED) means two workers never work on the same person at once."""
    alert: Callable[[], object] | None = None
    with transaction.atomic():
        account = take_locked(LibreChatAccount.objects.select_related("server").filter(pk=account_id))
        if account is None:
            exists = LibreChatAccount.objects.filter(pk=account_id).exists()
            return _result(account_id, Outcome.BUSY if exists else Outcome.GONE)
        if account.status == AccountStatus.READY:
            return _result(account_id, Outcome.DONE, "already provisioned")
        if account.status == AccountStatus.NEEDS_ATTENTION:
            # A late or duplicate wake-up: only staff's "retry" (which sets it waiting) goes on.
            return _result(account_id, Outcome.FAILED, "waiting for staff")
        _commit_without_waiting_for_the_disk()
        outcome = _provision_locked(account)
        account.save(update_fields=PROVISION_FIELDS)
        alert = _alert_once(account, outcome)
    if alert is not None:
        alert()
    return outcome


def _alert_once(account: LibreChatAccount, outcome: ProvisionOutcome) -> Callable[[], object] | None:
    """The staff mail this outcome calls for, sent after commit; once per problem (and once
    ever for LibreChat's ADMIN role)."""
    now = timezone.now()
    if outcome.status == "needs_attention" and account.staff_alerted_at is None:
        account.staff_alerted_at = now
        LibreChatAccount.objects.filter(pk=account.pk).update(staff_alerted_at=now)
        email, error, account_id = account.email, account.last_error, account.pk
        return lambda: mail.librechat_account_needs_attention(email=email, error=error, account_id=account_id)
    if outcome.status == "ready" and account.role == "ADMIN" and account.admin_role_alerted_at is None:
        account.admin_role_alerted_at = now
        LibreChatAccount.objects.filter(pk=account.pk).update(admin_role_alerted_at=now)
        email, server_name = account.email, account.server.name
        return lambda: mail.librechat_admin_role(email=email, server_name=server_name)
    return None


def _commit_without_waiting_for_the_disk() -> None:
    """Provisioning is idempotent and its password was committed (durably) when the row was
    created, so losing this transaction's last milliseconds in a PostgreSQL crash only means
    the account is provisioned again (register answers "already there", login confirms).
    Not waiting for the WAL flush takes a disk sync off every provisioned person."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _provision_locked(account: LibreChatAccount) -> ProvisionOutcome:
    account.attempts += 1
    try:
        tokens = _register_and_log_in(account)
    except (GateClosed, NeedsAttention, DecryptionError, VendorError) as problem:
        return _not_yet(account, problem)
    return _ready(account, tokens)


def _register_and_log_in(account: LibreChatAccount) -> SessionTokens:
    server = account.server
    client = client_for(server)
    password = account.password.reveal()
    if account.registered_at is None:
        try:
            gated(
                server,
                "register",
                lambda: client.register(name=account.name, email=account.email, password=password),
            )
        except VendorHTTPError as exc:
            if exc.retryable or exc.status not in (400, 403, 404):
                raise
            # Registration refused for good (closed, domain, invitation, validation): the
            # account may still exist already (created before it closed); try it once.
            return _login_or_take_over(account, register_refusal=exc)
        account.registered_at = timezone.now()
    return _login_or_take_over(account, register_refusal=None)


def _not_yet(
    account: LibreChatAccount, problem: GateClosed | NeedsAttention | DecryptionError | VendorError
) -> ProvisionOutcome:
    """What `problem` means for the account: waiting (with its next attempt) or needs attention
    (with what staff do). The more specific kinds of VendorError come first."""
    if isinstance(problem, GateClosed):
        max_name, window_name, _ = LIMITERS[problem.limiter]
        at = timezone.localtime(problem.until).strftime("%Y-%m-%d %H:%M:%S %Z")
        return _waiting(
            account,
            until=problem.until,
            note=f"LibreChat is busy; next try at {at}",
            error=(
                f"waiting: LibreChat's {max_name} reached, next try at {at}. LibreChat counts every "
                f"call from the portal's address; raise {max_name} (or shorten {window_name}) in "
                "LibreChat's .env if people wait too long."
            ),
        )
    retry_at = RETRY.next_attempt_at(account.attempts)
    if isinstance(problem, AddressUnconfirmed):
        return _waiting(account, until=retry_at, note=CONFIRM_NOTE, error=str(problem))
    if isinstance(problem, NeedsAttention):
        return _needs_attention(account, note=problem.note, error=str(problem))
    if isinstance(problem, DecryptionError):
        error = f"{problem}. Put the old key back in FERNET_KEYS (after the new one), then retry."
        return _needs_attention(account, note=FIX_IT, error=error)
    if isinstance(problem, LibreChatTwoFactorPending):
        error = (
            f"LibreChat's account {account.email} has two-factor authentication on, so the portal "
            "cannot sign in to it. Turn 2FA off for that account, or remove it with "
            "`npm run delete-user` in the LibreChat container, then retry."
        )
        return _needs_attention(account, note=FIX_IT, error=error)
    if problem.retryable:
        return _waiting(account, until=retry_at, note="LibreChat is not answering yet", error=str(problem))
    return _needs_attention(account, note=FIX_IT, error=_explain(problem, account))


def _login_or_take_over(
    account: LibreChatAccount, *, register_refusal: VendorHTTPError | None
) -> SessionTokens:
    server = account.server
    client = client_for(server)
    password = account.password.reveal()
    try:
        return gated(server, "login", lambda: client.login(email=account.email, password=password))
    except VendorHTTPError as exc:
        if exc.status == 404 and exc.vendor_message == "Incorrect password.":
            # LibreChat has an account for this email with a password the portal does not hold.
            return _take_over(account)
        if register_refusal is not None and exc.status == 404:
            raise register_refusal from None
        if exc.status == 404 and exc.vendor_message == "Email does not exist.":
            # Registered, yet unknown: the account was deleted in LibreChat. Register again.
            account.registered_at = None
            raise RegisterAgain(account.email, url=exc.url) from None
        raise


def _take_over(account: LibreChatAccount) -> SessionTokens:
    """Reset a stale LibreChat account to the portal's password, where LibreChat hands the reset
    link back (no email service, contract "Password reset"); the portal never asks for or
    keeps a password a person chose for LibreChat."""
    server = account.server
    client = client_for(server)
    ways_out = (
        f"Either let LibreChat reset passwords without email (ALLOW_PASSWORD_RESET=true and no email "
        f"service) and retry, or remove the stale account with `npm run delete-user {account.email}` "
        "in the LibreChat container, then retry."
    )
    stale = f"LibreChat already has an account for {account.email} with a password the portal does not hold"
    # Ask first: with an email service, requesting a reset would mail the person a link they
    # never asked for, and still not let the portal in (/api/config needs no auth).
    config = client.config()
    if config.email_enabled:
        raise NeedsAttention(
            f"{stale}, and LibreChat sends reset links by email (an email service is configured). {ways_out}",
            note=FIX_IT,
        )
    if not config.password_reset_enabled:
        raise NeedsAttention(
            f"{stale}, and password reset is off there (ALLOW_PASSWORD_RESET). {ways_out}",
            note=FIX_IT,
        )
    try:
        request = gated(server, "reset", lambda: client.password_reset_request(email=account.email))
    except VendorHTTPError as exc:
        if exc.status == 403 and not exc.retryable:
            raise NeedsAttention(
                f"{stale}, and password reset is off there ({exc.vendor_message}). {ways_out}",
                note=FIX_IT,
            ) from None
        raise
    if request.emailed:
        raise NeedsAttention(
            f"{stale}, and LibreChat sent the reset link by email. {ways_out}",
            note=FIX_IT,
        )
    password = account.password.reveal()
    client.password_reset_complete(user_id=request.user_id, token=request.token, password=password)
    return gated(server, "login", lambda: client.login(email=account.email, password=password))


def _explain(exc: VendorError, account: LibreChatAccount) -> str:
    message = getattr(exc, "vendor_message", "") or ""
    status = getattr(exc, "status", None)
    domain = account.email.split("@")[-1]
    if status == 403 and message == "Registration is not allowed.":
        return (
            "LibreChat's registration is closed (ALLOW_REGISTRATION is not true): set "
            "ALLOW_REGISTRATION=true in LibreChat's .env, then retry."
        )
    if status == 403 and message.startswith("The email address provided cannot be used"):
        return (
            f"LibreChat does not accept {domain} addresses: add {domain} to registration.allowedDomains "
            "in librechat.yaml, then retry."
        )
    if status == 400 and message == "Invalid invite token":
        return "LibreChat asks for an invitation (Invalid invite token): open its registration, then retry."
    if status == 404:
        return (
            f"LibreChat rejected the account's details: {message}. Fix the name on this account, then retry."
        )
    if status == 422:
        return (
            f"LibreChat has not verified {account.email} and sent its own verification mail. Set "
            "ALLOW_UNVERIFIED_EMAIL_LOGIN=true in LibreChat's .env (the portal has verified the address "
            "already), or have the person follow LibreChat's link, then retry."
        )
    if status == 403 and message == "Email login is not allowed.":
        return (
            "LibreChat's email login is off (ALLOW_EMAIL_LOGIN=false) and the portal signs in with "
            "email and password: set ALLOW_EMAIL_LOGIN=true, then retry."
        )
    return f"LibreChat refused: {exc}"


def _waiting(account: LibreChatAccount, *, until: dt.datetime, note: str, error: str) -> ProvisionOutcome:
    account.status = AccountStatus.WAITING
    account.status_note = note[:300]
    account.last_error = error
    account.next_attempt_at = until
    return _result(account.pk, Outcome.RETRY, error)


def _needs_attention(account: LibreChatAccount, *, note: str, error: str) -> ProvisionOutcome:
    account.status = AccountStatus.NEEDS_ATTENTION
    account.status_note = note[:300]
    account.last_error = error
    account.next_attempt_at = None
    log.warning("LibreChat account %s needs attention: %s", account.email, error)
    return _result(account.pk, Outcome.FAILED, error)


def _ready(account: LibreChatAccount, tokens: SessionTokens) -> ProvisionOutcome:
    now = timezone.now()
    account.status = AccountStatus.READY
    account.status_note = ""
    account.last_error = ""
    account.next_attempt_at = None
    account.librechat_user_id = tokens.user.id
    account.username = tokens.user.username
    account.role = tokens.user.role
    first_time = account.provisioned_at is None
    account.provisioned_at = account.provisioned_at or now
    account.registered_at = account.registered_at or now
    account.staff_alerted_at = None  # a later problem alerts again
    if tokens.user.role == "ADMIN":
        log.warning(
            "LibreChat account %s is LibreChat's ADMIN (the first account ever registered)", account.email
        )
    session_store(account, tokens, surely_none=first_time)
    return _result(account.pk, Outcome.DONE)
