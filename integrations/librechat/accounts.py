"""A person's LibreChat account on the web side: the row, its password, and waking the worker
that provisions it (provisioning.py); plus the staff's password reset.

Nothing here but `account_password_reset` calls LibreChat: the web side only creates rows and
wakes a worker on the server's network queue (`network_queue_name(server.network)`), by task
name, so this module never imports the tasks that import it.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrations.http import VendorHTTPError
from integrations.librechat.gate import LIMITERS, GateClosed, gated
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.librechat.servers import AddressUnconfirmed, client_for, server_for_new_accounts
from portal.core.queues import network_queue_name, wake_after_commit
from portal.core.work import ENQUEUE_LEASE, hand_out_due
from portal.crypto import Secret

PROVISION_TASK = "librechat.account_provision"
SETTING_UP = "setting up your LibreChat account"


def password_generate() -> str:
    """Long and random; LibreChat takes up to 128 characters (contract "Register")."""
    return secrets.token_urlsafe(32)


def display_name(name: str, email: str) -> str:
    """LibreChat requires a name of 3 to 80 characters (contract "Register")."""
    candidate = " ".join(name.split())[:80] or email.split("@")[0][:80]
    if len(candidate) < 3:
        candidate = (candidate + " (portal)")[:80]
    return candidate


def account_create(*, person: Any, server: LibreChatServer | None = None) -> LibreChatAccount | None:
    """Give `person` a LibreChat account row (waiting) and wake a worker; idempotent.

    The password is generated and committed before any call to LibreChat, so a worker that
    dies after LibreChat created the account still holds the password that works.
    Returns None when there is no LibreChat server configured.
    """
    existing = LibreChatAccount.objects.filter(person=person).first()
    if existing is not None:
        return existing
    chosen = server or server_for_new_accounts()
    if chosen is None:
        return None
    account, created = LibreChatAccount.objects.get_or_create(
        person=person,
        defaults={
            "server": chosen,
            "email": person.email.strip().lower(),
            "name": display_name(getattr(person, "name", ""), person.email),
            "password": password_generate(),
            "status": AccountStatus.WAITING,
            "status_note": SETTING_UP,
            "next_attempt_at": timezone.now() + ENQUEUE_LEASE,
        },
    )
    if created:
        account_enqueue(account=account)
    return account


def account_enqueue(*, account: LibreChatAccount) -> None:
    """Wake a worker on the server's network once the row is committed."""
    wake_after_commit(
        PROVISION_TASK, kwargs={"account_id": account.pk}, queue=network_queue_name(account.server.network)
    )


def accounts_retry(*, accounts: QuerySet[LibreChatAccount]) -> int:
    """ "Provision now" / "retry": make the rows due and wake a worker for each."""
    count = 0
    now = timezone.now()
    for account in accounts.select_related("server").exclude(status=AccountStatus.READY):
        LibreChatAccount.objects.filter(pk=account.pk).exclude(status=AccountStatus.READY).update(
            status=AccountStatus.WAITING, status_note=SETTING_UP, next_attempt_at=now + ENQUEUE_LEASE
        )
        account_enqueue(account=account)
        count += 1
    return count


def accounts_waiting_retry(*, server: LibreChatServer) -> int:
    """Wake every waiting account of `server` now (its address was confirmed, its gates opened)."""
    return accounts_retry(
        accounts=LibreChatAccount.objects.filter(server=server, status=AccountStatus.WAITING)
    )


def accounts_provision_due(*, limit: int = 1000) -> int:
    """The beat job: hand every waiting row whose next attempt is due to its network's worker."""
    waiting = LibreChatAccount.objects.select_related("server").filter(status=AccountStatus.WAITING)
    return hand_out_due(waiting, wake=lambda account: account_enqueue(account=account), limit=limit)


def account_provision_again(*, account: LibreChatAccount, reason: str, forget_registration: bool) -> None:
    """LibreChat no longer takes the ready account's password: provisioning puts it right
    (registering again when `forget_registration`, LibreChat having lost the account)."""
    with transaction.atomic():
        LibreChatAccount.objects.filter(pk=account.pk, status=AccountStatus.READY).update(
            status=AccountStatus.WAITING,
            status_note="setting up your LibreChat account again",
            last_error=reason,
            next_attempt_at=timezone.now() + ENQUEUE_LEASE,
        )
        if forget_registration:
            LibreChatAccount.objects.filter(pk=account.pk).update(registered_at=None)
        account_enqueue(account=account)


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
            client = client_for(account.server)
            # Ask first: with an email service the request would mail the person a reset link.
            config = client.config()
            if config.email_enabled or not config.password_reset_enabled:
                return "not reset: LibreChat resets passwords only by email (or not at all) here"
            request = gated(
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
