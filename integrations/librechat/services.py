"""LibreChat accounts and sessions: provisioning, the shared 429 gate, sessions, resets.

Functions that call LibreChat run in Celery tasks on the server's network queue
(`network_queue_name(server.network)`), never in a web request: the web side only creates rows
and enqueues (`account_create`, `account_enqueue`, `sessions_revoke`) or reads the database
(`session_live`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.http import VendorError, VendorHTTPError
from integrations.librechat.addresses import CONFIRM_NOTE, AddressUnconfirmed, client_for_server
from integrations.librechat.client import (
    LibreChatTwoFactorPending,
    RefreshRejected,
    SessionTokens,
    client_for,
)
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from portal.core.queues import network_queue_name
from portal.core.work import backoff_at
from portal.crypto import DecryptionError, Secret

log = logging.getLogger(__name__)
T = TypeVar("T")

# A row handed to a task is not handed out again by the beat for this long; if the task
# message is lost, the beat picks the row up again when the lease runs out.
ENQUEUE_LEASE = dt.timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 30 * 60
# An access token closer than this to its end is refreshed rather than handed out.
ACCESS_MARGIN = dt.timedelta(seconds=60)
REFRESH_MARGIN = dt.timedelta(seconds=60)

Limiter = Literal["register", "login", "reset"]
# LibreChat's .env names and default windows per limiter (contract "Register", "Login",
# "Password reset"); the window is the fallback when a 429 carries no Retry-After.
LIMITERS: dict[str, tuple[str, str, dt.timedelta]] = {
    "register": ("REGISTER_MAX", "REGISTER_WINDOW", dt.timedelta(minutes=60)),
    "login": ("LOGIN_MAX", "LOGIN_WINDOW", dt.timedelta(minutes=5)),
    "reset": ("RESET_PASSWORD_MAX", "RESET_PASSWORD_WINDOW", dt.timedelta(minutes=2)),
}
GATE_FIELDS: dict[str, str] = {
    "register": "register_blocked_until",
    "login": "login_blocked_until",
    "reset": "reset_blocked_until",
}


class GateClosed(Exception):
    """LibreChat's per-IP limit for `limiter` is reached until `until`: do not call it."""

    def __init__(self, limiter: str, until: dt.datetime) -> None:
        super().__init__(f"{LIMITERS[limiter][0]} reached until {until.isoformat()}")
        self.limiter = limiter
        self.until = until


class NeedsAttention(Exception):
    """A cause no retry can fix: `str(self)` says what to do."""

    def __init__(self, message: str, *, note: str) -> None:
        super().__init__(message)
        self.note = note


class AccountNotReady(Exception):
    pass


# --- passwords and names ---------------------------------------------------------------


def password_generate() -> str:
    """Long and random; LibreChat takes up to 128 characters (contract "Register")."""
    return secrets.token_urlsafe(32)


def display_name(name: str, email: str) -> str:
    """LibreChat requires a name of 3 to 80 characters (contract "Register")."""
    candidate = " ".join(name.split())[:80] or email.split("@")[0][:80]
    if len(candidate) < 3:
        candidate = (candidate + " (portal)")[:80]
    return candidate


# --- the web side: rows and enqueueing (no vendor calls) -------------------------------------


def server_for_new_accounts() -> LibreChatServer | None:
    return LibreChatServer.objects.filter(accepts_new_accounts=True).order_by("pk").first()


def account_create(*, person: Any, server: LibreChatServer | None = None) -> LibreChatAccount | None:
    """Give `person` a LibreChat account row (waiting) and wake a worker; idempotent.

    The password is generated and committed before any call to LibreChat, so a worker that
    dies after LibreChat created the account still holds the password that works.
    Returns None when there is no LibreChat server configured.
    """
    existing = LibreChatAccount.objects.filter(person=person).first()
    if existing is not None:
        return existing
    server = server or server_for_new_accounts()
    if server is None:
        return None
    account, created = LibreChatAccount.objects.get_or_create(
        person=person,
        defaults={
            "server": server,
            "email": person.email.strip().lower(),
            "name": display_name(getattr(person, "name", ""), person.email),
            "password": password_generate(),
            "status": AccountStatus.WAITING,
            "status_note": "setting up your LibreChat account",
            "next_attempt_at": timezone.now() + ENQUEUE_LEASE,
        },
    )
    if created:
        account_enqueue(account=account)
    return account


def account_enqueue(*, account: LibreChatAccount) -> None:
    """Wake a worker on the server's network once the row is committed."""
    from integrations.librechat.tasks import account_provision_task

    queue = network_queue_name(account.server.network)
    transaction.on_commit(
        partial(_wake, account_provision_task, kwargs={"account_id": account.pk}, queue=queue)
    )


def _wake(task: Any, *, kwargs: dict[str, int], queue: str) -> None:
    """Send a wake-up message. A broker that is down must not fail the person's request: the
    row already says the work is due, and the beat picks it up (DESIGN.md "Data that matters")."""
    try:
        task.apply_async(kwargs=kwargs, queue=queue)
    except Exception as exc:
        log.warning("could not wake a worker on %s (%s); the beat job will pick the work up", queue, exc)


def accounts_retry(*, accounts: Any) -> int:
    """ "Provision now" / "retry": make the rows due and wake a worker for each."""
    count = 0
    now = timezone.now()
    for account in accounts.select_related("server").exclude(status=AccountStatus.READY):
        LibreChatAccount.objects.filter(pk=account.pk).exclude(status=AccountStatus.READY).update(
            status=AccountStatus.WAITING,
            status_note="setting up your LibreChat account",
            next_attempt_at=now + ENQUEUE_LEASE,
        )
        account_enqueue(account=account)
        count += 1
    return count


def accounts_provision_due(*, limit: int = 1000) -> int:
    """The beat job: hand every waiting row whose next attempt is due to its network's worker."""
    now = timezone.now()
    handed = 0
    with transaction.atomic():
        due = list(
            LibreChatAccount.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("server")
            .filter(status=AccountStatus.WAITING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        if due:
            LibreChatAccount.objects.filter(pk__in=[a.pk for a in due]).update(
                next_attempt_at=now + ENQUEUE_LEASE
            )
        for account in due:
            account_enqueue(account=account)
            handed += 1
    return handed


# --- the shared 429 gate ----------------------------------------------------------------


def gate_until(*, server: LibreChatServer, limiter: str, fresh: bool = True) -> dt.datetime | None:
    """When the gate opens again, or None if it is open. `fresh` reads the database (another
    worker may have closed it since `server` was loaded); tasks load the server row with the
    account at their start, milliseconds before calling, and pass fresh=False."""
    field = GATE_FIELDS[limiter]
    if fresh:
        until = LibreChatServer.objects.filter(pk=server.pk).values_list(field, flat=True).first()
    else:
        until = getattr(server, field)
    return until if until is not None and until > timezone.now() else None


def gate_close(*, server: LibreChatServer, limiter: str, error: VendorError) -> dt.datetime:
    now = timezone.now()
    if error.retry_after is not None:
        wait = dt.timedelta(seconds=max(1.0, error.retry_after))
    else:
        # "please try again after 60 minutes" (the limiter's message, contract "Register").
        found = re.search(r"after (\d+(?:\.\d+)?) minute", error.vendor_message or "")
        wait = dt.timedelta(minutes=float(found.group(1))) if found else LIMITERS[limiter][2]
    until = now + wait
    field = GATE_FIELDS[limiter]
    setattr(server, field, until)
    LibreChatServer.objects.filter(pk=server.pk).filter(
        Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": until})
    ).update(**{field: until})
    log.warning("LibreChat %s: %s reached, gate closed until %s", server.name, LIMITERS[limiter][0], until)
    return until


def _gated(server: LibreChatServer, limiter: str, call: Callable[[], T]) -> T:
    until = gate_until(server=server, limiter=limiter, fresh=False)
    if until is not None:
        raise GateClosed(limiter, until)
    try:
        return call()
    except VendorHTTPError as exc:
        if exc.status == 429:
            raise GateClosed(limiter, gate_close(server=server, limiter=limiter, error=exc)) from None
        raise


# --- provisioning (in a task on the server's network queue) ------------------------------------


@dataclass(frozen=True)
class ProvisionOutcome:
    status: str  # ready | waiting | needs_attention | busy | gone
    detail: str = ""


def account_provision(*, account_id: int) -> ProvisionOutcome:
    """Register, confirm by logging in, keep that login as the session. Exact and idempotent:
    the row lock (SKIP LOCKED) means two workers never work on the same person at once."""
    alert: Callable[[], None] | None = None
    with transaction.atomic():
        account = (
            LibreChatAccount.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("server")
            .filter(pk=account_id)
            .first()
        )
        if account is None:
            exists = LibreChatAccount.objects.filter(pk=account_id).exists()
            return ProvisionOutcome("busy" if exists else "gone")
        if account.status == AccountStatus.READY:
            return ProvisionOutcome("ready", "already provisioned")
        if account.status == AccountStatus.NEEDS_ATTENTION:
            # A late or duplicate wake-up: only staff's "retry" (which sets it waiting) goes on.
            return ProvisionOutcome("needs_attention", "waiting for staff")
        _commit_without_waiting_for_the_disk()
        outcome = _provision_locked(account)
        account.save(update_fields=PROVISION_FIELDS)
        if outcome.status == "needs_attention" and account.staff_alerted_at is None:
            account.staff_alerted_at = timezone.now()
            LibreChatAccount.objects.filter(pk=account.pk).update(staff_alerted_at=account.staff_alerted_at)
            alert = _attention_alert(account)
        elif outcome.status == "ready" and account.role == "ADMIN" and account.admin_role_alerted_at is None:
            account.admin_role_alerted_at = timezone.now()
            LibreChatAccount.objects.filter(pk=account.pk).update(
                admin_role_alerted_at=account.admin_role_alerted_at
            )
            alert = _admin_role_alert(account)
    if alert is not None:
        alert()
    return outcome


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


def _commit_without_waiting_for_the_disk() -> None:
    """Provisioning is idempotent and its password was committed (durably) when the row was
    created, so losing this transaction's last milliseconds in a PostgreSQL crash only means
    the account is provisioned again (register answers "already there", login confirms).
    Not waiting for the WAL flush takes a disk sync off every provisioned person."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _provision_locked(account: LibreChatAccount) -> ProvisionOutcome:
    server = account.server
    account.attempts += 1
    try:
        client = client_for_server(server)
        password = account.password.reveal()
        if account.registered_at is None:
            try:
                _gated(
                    server,
                    "register",
                    lambda: client.register(name=account.name, email=account.email, password=password),
                )
            except VendorHTTPError as exc:
                if exc.retryable or exc.status not in (400, 403, 404):
                    raise
                # Registration refused for good (closed, domain, invitation, validation): the
                # account may still exist already (created before it closed); try it once.
                tokens = _login_or_take_over(account, register_refusal=exc)
                return _ready(account, tokens)
            account.registered_at = timezone.now()
        tokens = _login_or_take_over(account, register_refusal=None)
        return _ready(account, tokens)
    except GateClosed as gate:
        max_name, window_name, _ = LIMITERS[gate.limiter]
        at = timezone.localtime(gate.until).strftime("%Y-%m-%d %H:%M:%S %Z")
        return _waiting(
            account,
            until=gate.until,
            note=f"LibreChat is busy; next try at {at}",
            error=(
                f"waiting: LibreChat's {max_name} reached, next try at {at}. LibreChat counts every "
                f"call from the portal's address; raise {max_name} (or shorten {window_name}) in "
                "LibreChat's .env if people wait too long."
            ),
        )
    except AddressUnconfirmed as exc:
        return _waiting(account, until=_backoff(account.attempts), note=CONFIRM_NOTE, error=str(exc))
    except NeedsAttention as problem:
        return _needs_attention(account, note=problem.note, error=str(problem))
    except DecryptionError as exc:
        return _needs_attention(
            account,
            note="staff must fix your LibreChat account",
            error=f"{exc}. Put the old key back in FERNET_KEYS (after the new one), then retry.",
        )
    except LibreChatTwoFactorPending:
        return _needs_attention(
            account,
            note="staff must fix your LibreChat account",
            error=(
                f"LibreChat's account {account.email} has two-factor authentication on, so the portal "
                "cannot sign in to it. Turn 2FA off for that account, or remove it with "
                "`npm run delete-user` in the LibreChat container, then retry."
            ),
        )
    except VendorError as exc:
        if exc.retryable:
            return _waiting(
                account,
                until=_backoff(account.attempts),
                note="LibreChat is not answering yet",
                error=str(exc),
            )
        return _needs_attention(
            account, note="staff must fix your LibreChat account", error=_explain(exc, account)
        )


def _login_or_take_over(
    account: LibreChatAccount, *, register_refusal: VendorHTTPError | None
) -> SessionTokens:
    server = account.server
    client = client_for_server(server)
    password = account.password.reveal()
    try:
        return _gated(server, "login", lambda: client.login(email=account.email, password=password))
    except VendorHTTPError as exc:
        if exc.status == 404 and exc.vendor_message == "Incorrect password.":
            # LibreChat has an account for this email with a password the portal does not hold.
            return _take_over(account)
        if register_refusal is not None and exc.status == 404:
            raise register_refusal from None
        if exc.status == 404 and exc.vendor_message == "Email does not exist.":
            # Registered, yet unknown: the account was deleted in LibreChat. Register again.
            account.registered_at = None
            raise VendorHTTPError(
                f"LibreChat has no account for {account.email} (removed?); registering it again",
                kind=exc.kind,
                retryable=True,
                vendor=exc.vendor,
                url=exc.url,
                status=exc.status,
                vendor_message=exc.vendor_message,
            ) from None
        raise


def _take_over(account: LibreChatAccount) -> SessionTokens:
    """Reset a stale LibreChat account to the portal's password, where LibreChat hands the reset
    link back (no email service, contract "Password reset"); the portal never asks for or
    keeps a password a person chose for LibreChat."""
    server = account.server
    client = client_for_server(server)
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
            note="staff must fix your LibreChat account",
        )
    if not config.password_reset_enabled:
        raise NeedsAttention(
            f"{stale}, and password reset is off there (ALLOW_PASSWORD_RESET). {ways_out}",
            note="staff must fix your LibreChat account",
        )
    try:
        request = _gated(server, "reset", lambda: client.password_reset_request(email=account.email))
    except VendorHTTPError as exc:
        if exc.status == 403 and not exc.retryable:
            raise NeedsAttention(
                f"{stale}, and password reset is off there ({exc.vendor_message}). {ways_out}",
                note="staff must fix your LibreChat account",
            ) from None
        raise
    if request.emailed:
        raise NeedsAttention(
            f"{stale}, and LibreChat sent the reset link by email. {ways_out}",
            note="staff must fix your LibreChat account",
        )
    password = account.password.reveal()
    client.password_reset_complete(user_id=request.user_id, token=request.token, password=password)
    return _gated(server, "login", lambda: client.login(email=account.email, password=password))


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


def _backoff(attempts: int) -> dt.datetime:
    return backoff_at(attempts, base_seconds=BACKOFF_BASE_SECONDS, cap_seconds=BACKOFF_CAP_SECONDS)


def _waiting(account: LibreChatAccount, *, until: dt.datetime, note: str, error: str) -> ProvisionOutcome:
    account.status = AccountStatus.WAITING
    account.status_note = note[:300]
    account.last_error = error
    account.next_attempt_at = until
    return ProvisionOutcome("waiting", error)


def _needs_attention(account: LibreChatAccount, *, note: str, error: str) -> ProvisionOutcome:
    account.status = AccountStatus.NEEDS_ATTENTION
    account.status_note = note[:300]
    account.last_error = error
    account.next_attempt_at = None
    log.warning("LibreChat account %s needs attention: %s", account.email, error)
    return ProvisionOutcome("needs_attention", error)


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
    _session_store(account, tokens, surely_none=first_time)
    return ProvisionOutcome("ready")


# --- staff alerts ---------------------------------------------------------------------------


def _attention_alert(account: LibreChatAccount) -> Callable[[], None]:
    subject = f"LibreChat account for {account.email} needs attention"
    body = f"{account.last_error}\n\nThe account in the admin: /admin/librechat/librechataccount/{account.pk}/change/\n"
    return lambda: _mail_staff(subject, body)


def _admin_role_alert(account: LibreChatAccount) -> Callable[[], None]:
    subject = f"LibreChat made {account.email} its ADMIN"
    body = (
        f"LibreChat gives the ADMIN role to the first account ever registered, and that was the "
        f"portal's account for {account.email} on {account.server.name}. The operator should own "
        "LibreChat's admin account: create your own admin account in LibreChat first (or change the "
        "role in LibreChat's database), and check who should hold it.\n"
    )
    return lambda: _mail_staff(subject, body)


def _mail_staff(subject: str, body: str) -> None:
    from portal.core import mail

    mail.to_staff(subject, body)


# --- sessions ------------------------------------------------------------------------------


def _session_store(
    account: LibreChatAccount, tokens: SessionTokens, *, surely_none: bool = False
) -> LibreChatSession:
    """Keep `tokens` as the account's live session. `surely_none`: never provisioned before,
    so there is no session to look for (the unique constraint would catch a mistake)."""
    now = timezone.now()
    live = (
        None
        if surely_none
        else LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).first()
    )
    if live is None:
        return LibreChatSession.objects.create(
            account=account,
            access_token=tokens.access_token,
            access_expires_at=tokens.access_expires_at,
            refresh_token=tokens.refresh_token,
            refresh_expires_at=tokens.refresh_expires_at,
        )
    live.access_token = Secret(tokens.access_token)
    live.access_expires_at = tokens.access_expires_at
    live.refresh_token = Secret(tokens.refresh_token)
    live.refresh_expires_at = tokens.refresh_expires_at
    live.refreshed_at = now
    live.save()
    return live


def session_live(*, account: LibreChatAccount) -> LibreChatSession | None:
    """The live session whose access token is still good (database only: no vendor call)."""
    return (
        LibreChatSession.objects.filter(
            account=account,
            revoked_at__isnull=True,
            access_expires_at__gt=timezone.now() + ACCESS_MARGIN,
        )
        .order_by("-established_at")
        .first()
    )


def session_access_token(*, account: LibreChatAccount) -> tuple[Secret, dt.datetime]:
    """A valid access token for `account`: the stored one, else refresh, else a fresh login
    (logins are rate-limited per IP). Calls LibreChat: run it in a task on the server's network.

    Reusable by anything that acts in LibreChat as the person (e.g. PUT /api/keys).
    """
    try:
        return _session_access_token(account)
    except VendorHTTPError as exc:
        if exc.status == 404:
            # The password or the account changed in LibreChat: provisioning puts it right.
            with transaction.atomic():
                LibreChatAccount.objects.filter(pk=account.pk, status=AccountStatus.READY).update(
                    status=AccountStatus.WAITING,
                    status_note="setting up your LibreChat account again",
                    last_error=f"login refused ({exc.vendor_message}); provisioning again",
                    next_attempt_at=timezone.now() + ENQUEUE_LEASE,
                )
                if exc.vendor_message == "Email does not exist.":
                    LibreChatAccount.objects.filter(pk=account.pk).update(registered_at=None)
                account_enqueue(account=account)
        raise


def _session_access_token(account: LibreChatAccount) -> tuple[Secret, dt.datetime]:
    with transaction.atomic():
        # Serialises refreshes of one account: the refresh token rotates, so two concurrent
        # refreshes with the same token would lose one of them (contract "Tokens").
        account = (
            LibreChatAccount.objects.select_for_update(of=("self",))
            .select_related("server")
            .get(pk=account.pk)
        )
        if account.status != AccountStatus.READY:
            raise AccountNotReady(f"the LibreChat account of {account.email} is {account.status_line}")
        now = timezone.now()
        live = LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).first()
        if live is not None and live.access_expires_at > now + ACCESS_MARGIN:
            return live.access_token, live.access_expires_at
        client = client_for_server(account.server)
        tokens: SessionTokens | None = None
        if live is not None and live.refresh_expires_at > now + REFRESH_MARGIN:
            try:
                tokens = client.refresh(refresh_token=live.refresh_token.reveal())
            except RefreshRejected:
                tokens = None
        if tokens is None:
            if live is not None:
                live.revoked_at = now
                live.logged_out_at = now  # LibreChat no longer knows it
                live.save(update_fields=["revoked_at", "logged_out_at"])
            password = account.password.reveal()
            tokens = _gated(
                account.server, "login", lambda: client.login(email=account.email, password=password)
            )
        session = _session_store(account, tokens)
        return session.access_token, session.access_expires_at


def sessions_revoke(*, account: LibreChatAccount) -> int:
    """Stop handing out the account's session now; a task logs it out of LibreChat."""
    from integrations.librechat.tasks import session_logout_task

    now = timezone.now()
    ids = list(
        LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).values_list("pk", flat=True)
    )
    if not ids:
        return 0
    LibreChatSession.objects.filter(pk__in=ids).update(revoked_at=now)
    queue = network_queue_name(account.server.network)
    for session_id in ids:
        transaction.on_commit(
            partial(_wake, session_logout_task, kwargs={"session_id": session_id}, queue=queue)
        )
    return len(ids)


def sessions_mark_rejected(*, account: LibreChatAccount) -> int:
    """LibreChat answered 401 to the account's session: it is gone on LibreChat's side, so it
    is revoked here and there is nothing left to log out."""
    now = timezone.now()
    return LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).update(
        revoked_at=now, logged_out_at=now
    )


def sessions_logout_due(*, limit: int = 1000) -> int:
    """The beat's second half: revoked sessions LibreChat has not confirmed logged out yet
    (a lost message, a broker that was down at logout) are handed to their network's worker."""
    from integrations.librechat.tasks import session_logout_task

    due = (
        LibreChatSession.objects.filter(
            revoked_at__lte=timezone.now() - ENQUEUE_LEASE,
            logged_out_at__isnull=True,
            access_token__isnull=False,
        )
        .select_related("account__server")
        .order_by("revoked_at")[:limit]
    )
    handed = 0
    for session in due:
        _wake(
            session_logout_task,
            kwargs={"session_id": session.pk},
            queue=network_queue_name(session.account.server.network),
        )
        handed += 1
    return handed


def session_logout(*, session_id: int) -> str:
    """Log a revoked session out of LibreChat, then forget its tokens."""
    session = LibreChatSession.objects.select_related("account__server").filter(pk=session_id).first()
    if session is None or session.logged_out_at is not None or session.access_token is None:
        return "nothing to do"
    client = client_for_server(session.account.server)
    now = timezone.now()
    access = session.access_token.reveal()
    refresh = session.refresh_token.reveal() if session.refresh_token else None
    outcome = "logged out"
    try:
        if session.access_expires_at <= now + dt.timedelta(seconds=5) and refresh:
            tokens = client.refresh(refresh_token=refresh)
            access, refresh = tokens.access_token, tokens.refresh_token
        client.logout(access_token=access, refresh_token=refresh)
    except RefreshRejected:
        outcome = "already ended in LibreChat"
    session.logged_out_at = timezone.now()
    session.access_token = None
    session.refresh_token = None
    session.save(update_fields=["logged_out_at", "access_token", "refresh_token"])
    return outcome


# --- password reset (admin action) -------------------------------------------------------------


def account_password_reset(*, account_id: int) -> str:
    """Give the LibreChat account a new generated password, where LibreChat hands the reset link
    back (no email service). LibreChat deletes every session of the user on success."""
    with transaction.atomic():
        account = (
            LibreChatAccount.objects.select_for_update(of=("self",))
            .select_related("server")
            .get(pk=account_id)
        )
        if account.status != AccountStatus.READY:
            return f"not reset: the account is {account.status_line}"
        try:
            client = client_for_server(account.server)
            # Ask first: with an email service the request would mail the person a reset link.
            config = client.config()
            if config.email_enabled or not config.password_reset_enabled:
                return "not reset: LibreChat resets passwords only by email (or not at all) here"
            request = _gated(
                account.server, "reset", lambda: client.password_reset_request(email=account.email)
            )
        except GateClosed as gate:
            return f"not reset: LibreChat's {LIMITERS[gate.limiter][0]} reached until {gate.until:%H:%M:%S}"
        except (VendorHTTPError, AddressUnconfirmed) as exc:
            return f"not reset: {exc}"
        if request.emailed:
            return "not reset: LibreChat sends reset links by email, so the portal cannot reset it"
        new_password = password_generate()
        client.password_reset_complete(user_id=request.user_id, token=request.token, password=new_password)
        account.password = Secret(new_password)
        account.save(update_fields=["password", "updated_at"])
        LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), logged_out_at=timezone.now(), access_token=None, refresh_token=None
        )
    return "password reset"


# --- server check (admin action) ----------------------------------------------------------------


def server_check(*, server_id: int) -> dict[str, Any]:
    """/health, then /api/config: is LibreChat up, and will it take new accounts?"""
    server = LibreChatServer.objects.get(pk=server_id)
    client = client_for(server.api_url)
    try:
        client.health()
        config = client.config()
    except VendorError as exc:
        return {"ok": False, "message": str(exc)}
    blocking = []
    if not config.registration_enabled:
        blocking.append("registration is closed (ALLOW_REGISTRATION), so new people cannot get accounts")
    if not config.email_login_enabled:
        blocking.append("email login is off (ALLOW_EMAIL_LOGIN), so the portal cannot sign in")
    notes = list(blocking)
    if config.email_enabled:
        notes.append("an email service is configured, so stale accounts cannot be taken over by a reset")
    message = f"LibreChat at {server.api_url} answers" + (
        ": " + "; ".join(notes) if notes else "; ready for new accounts"
    )
    return {"ok": not blocking, "message": message}
