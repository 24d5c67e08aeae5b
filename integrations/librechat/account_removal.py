"""Deleting a LibreChat account as its person (DELETE /api/user/delete), where LibreChat allows
it (ALLOW_ACCOUNT_DELETION): LibreChat has no admin API to delete another user.

The caller holds the login (the portal's person row is gone by then) and keeps the work in
flight; a retryable answer (LibreChat down, busy) is raised as the VendorError it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from integrations.http import VendorHTTPError
from integrations.librechat.models import LibreChatServer
from integrations.librechat.servers import client_for as client_for_server


class Deletion(StrEnum):
    DELETED = "deleted"
    NO_ACCOUNT = "no_account"  # LibreChat knows no account for the address (any more)
    LOGIN_REFUSED = "login_refused"  # not retryable: staff must delete it
    NOT_ALLOWED = "not_allowed"  # ALLOW_ACCOUNT_DELETION=false: staff must delete it


@dataclass(frozen=True)
class DeletionAnswer:
    outcome: Deletion
    detail: str = ""


def account_delete_as_person(*, server: LibreChatServer, email: str, password: str) -> DeletionAnswer:
    client = client_for_server(server)
    try:
        tokens = client.login(email=email, password=password)
    except VendorHTTPError as exc:
        if exc.status == 404 and exc.vendor_message == "Email does not exist.":
            return DeletionAnswer(Deletion.NO_ACCOUNT)
        if exc.retryable:
            raise
        return DeletionAnswer(Deletion.LOGIN_REFUSED, exc.vendor_message or str(exc))
    try:
        client.account_delete(access_token=tokens.access_token)
    except VendorHTTPError as exc:
        if exc.status == 403 and not exc.retryable:
            return DeletionAnswer(Deletion.NOT_ALLOWED)
        raise
    return DeletionAnswer(Deletion.DELETED)
