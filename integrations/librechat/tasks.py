"""Celery tasks: each takes ids (never secrets), loads rows and calls the one service it is
named after. Results carry no secrets (they sit in the result backend). The registered names
("librechat.account_provision", ...) are what services and beat entries wake by."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.http import VendorError
from integrations.librechat import accounts, provisioning, servers, sessions
from integrations.librechat.gate import GateClosed
from integrations.librechat.models import LibreChatAccount, LibreChatServer


@shared_task(name=accounts.PROVISION_TASK)
def account_provision_task(account_id: int) -> dict[str, Any]:
    """Runs on the account's server's network queue."""
    outcome = provisioning.account_provision(account_id=account_id)
    return {"status": outcome.status}


@shared_task(name="librechat.accounts_provision_due", ignore_result=True)
def accounts_provision_due_task() -> int:
    """Beat, on the default queue: it only hands due rows (and sessions still to log out) to
    their network's queue."""
    handed = accounts.accounts_provision_due()
    sessions.sessions_logout_due()
    return handed


@shared_task(name="librechat.session_ensure")
def session_ensure_task(account_id: int) -> dict[str, Any]:
    """Make sure the account has a live session (`session_access_token`); the token stays in
    the database."""
    account = LibreChatAccount.objects.filter(pk=account_id).first()
    if account is None:
        return {"ok": False, "error": "no such account"}
    try:
        _, expires_at = sessions.session_access_token(account=account)
    except sessions.AccountNotReady as exc:
        return {"ok": False, "error": str(exc)}
    except GateClosed as exc:
        return {"ok": False, "error": str(exc), "retry_at": exc.until.isoformat()}
    except VendorError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "expires_at": expires_at.isoformat()}


@shared_task(name=sessions.LOGOUT_TASK)
def session_logout_task(session_id: int) -> str:
    return sessions.session_logout(session_id=session_id)


@shared_task(name="librechat.account_password_reset")
def account_password_reset_task(account_id: int) -> str:
    return accounts.account_password_reset(account_id=account_id)


@shared_task(name="librechat.server_check")
def server_check_task(server_id: int) -> dict[str, Any]:
    """The server's "Test connection", as `ServerCheck.as_result()`."""
    return servers.server_check(server=LibreChatServer.objects.get(pk=server_id)).as_result()
