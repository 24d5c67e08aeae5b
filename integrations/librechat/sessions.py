"""The portal's server-side LibreChat session of each account: at most one live, its tokens
encrypted in the database, refreshed or renewed by a login when they run out, logged out of
LibreChat when revoked.

`session_live` reads the database only; `session_access_token` and `session_logout` call
LibreChat, so they run in a task on the server's network queue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.http import VendorHTTPError
from integrations.librechat.accounts import account_provision_again
from integrations.librechat.client import RefreshRejected, SessionTokens
from integrations.librechat.gate import gated
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatSession
from integrations.librechat.servers import client_for
from portal.core.queues import dispatch_and_wait, network_queue_name, wake, wake_after_commit
from portal.core.work import ENQUEUE_LEASE
from portal.crypto import Secret

LOGOUT_TASK = "librechat.session_logout"
ENSURE_TASK = "librechat.session_ensure"
# An access token closer than this to its end is refreshed rather than handed out.
ACCESS_MARGIN = dt.timedelta(seconds=60)
REFRESH_MARGIN = dt.timedelta(seconds=60)


def session_ensure_and_wait(*, account: LibreChatAccount, wait_seconds: float) -> tuple[bool, Any]:
    """Have a task on the account's network ensure its live session and wait briefly for the
    answer: (False, None) while it is still pending, else (True, the task's result)."""
    done, result, _ = dispatch_and_wait(
        ENSURE_TASK,
        network=account.server.network,
        kwargs={"account_id": account.pk},
        wait_seconds=wait_seconds,
    )
    return done, result


class AccountNotReady(Exception):
    """The account is still waiting or needs attention: it has no session to hand out yet."""


def session_store(
    account: LibreChatAccount, tokens: SessionTokens, *, surely_none: bool = False
) -> LibreChatSession:
    """Keep `tokens` as the account's live session. `surely_none`: never provisioned before,
    so there is no session to look for (the unique constraint would catch a mistake)."""
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
    live.refreshed_at = timezone.now()
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
            account_provision_again(
                account=account,
                reason=f"login refused ({exc.vendor_message}); provisioning again",
                forget_registration=exc.vendor_message == "Email does not exist.",
            )
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
        client = client_for(account.server)
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
            tokens = gated(
                account.server, "login", lambda: client.login(email=account.email, password=password)
            )
        session = session_store(account, tokens)
        return session.access_token, session.access_expires_at


def sessions_revoke(*, account: LibreChatAccount) -> int:
    """Stop handing out the account's session now; a task logs it out of LibreChat."""
    ids = list(
        LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).values_list("pk", flat=True)
    )
    if not ids:
        return 0
    LibreChatSession.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
    queue = network_queue_name(account.server.network)
    for session_id in ids:
        wake_after_commit(LOGOUT_TASK, kwargs={"session_id": session_id}, queue=queue)
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
    (a lost message, a broker that was down at logout) are handed to their network's worker.
    A revoked session is woken at once by `sessions_revoke`; only one still there a lease
    later is handed out (`revoked_at` stays what it says, so no lease is written on the row)."""
    due = list(
        LibreChatSession.objects.filter(
            revoked_at__lte=timezone.now() - ENQUEUE_LEASE,
            logged_out_at__isnull=True,
            access_token__isnull=False,
        )
        .select_related("account__server")
        .order_by("revoked_at")[:limit]
    )
    for session in due:
        wake(
            LOGOUT_TASK,
            kwargs={"session_id": session.pk},
            queue=network_queue_name(session.account.server.network),
        )
    return len(due)


def session_logout(*, session_id: int) -> str:
    """Log a revoked session out of LibreChat, then forget its tokens."""
    session = LibreChatSession.objects.select_related("account__server").filter(pk=session_id).first()
    if session is None or session.logged_out_at is not None or session.access_token is None:
        return "nothing to do"
    client = client_for(session.account.server)
    access = session.access_token.reveal()
    refresh = session.refresh_token.reveal() if session.refresh_token else None
    outcome = "logged out"
    try:
        if session.access_expires_at <= timezone.now() + dt.timedelta(seconds=5) and refresh:
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
