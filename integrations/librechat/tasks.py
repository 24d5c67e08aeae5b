"""Celery tasks: each takes ids (never secrets), loads rows and calls one service. Results
carry no secrets (they sit in the result backend)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.http import VendorError
from integrations.librechat import services
from integrations.librechat.models import LibreChatAccount


@shared_task(name="librechat.account_provision")
def account_provision_task(account_id: int) -> dict[str, Any]:
    """Runs on the account's server's network queue."""
    outcome = services.account_provision(account_id=account_id)
    return {"status": outcome.status}


@shared_task(name="librechat.accounts_provision_due", ignore_result=True)
def accounts_provision_due_task() -> int:
    """Beat, on the default queue: it only hands due rows to their network's queue."""
    handed = services.accounts_provision_due()
    services.sessions_logout_due()
    return handed


@shared_task(name="librechat.session_ensure")
def session_ensure_task(account_id: int) -> dict[str, Any]:
    """Make sure the account has a live session; the token stays in the database."""
    account = LibreChatAccount.objects.filter(pk=account_id).first()
    if account is None:
        return {"ok": False, "error": "no such account"}
    try:
        _, expires_at = services.session_access_token(account=account)
    except services.AccountNotReady as exc:
        return {"ok": False, "error": str(exc)}
    except services.GateClosed as exc:
        return {"ok": False, "error": str(exc), "retry_at": exc.until.isoformat()}
    except VendorError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "expires_at": expires_at.isoformat()}


@shared_task(name="librechat.session_logout")
def session_logout_task(session_id: int) -> str:
    return services.session_logout(session_id=session_id)


@shared_task(name="librechat.account_password_reset")
def account_password_reset_task(account_id: int) -> str:
    return services.account_password_reset(account_id=account_id)


@shared_task(name="librechat.server_check")
def server_check_task(server_id: int) -> dict[str, Any]:
    return services.server_check(server_id=server_id)
