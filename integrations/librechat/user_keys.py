"""A person's key inside LibreChat (the "user_provided" apiKey of a custom endpoint), put and
read as the person: LibreChat has no admin API for another user's keys (contract "/api/keys").

Both calls sign in as the person through the stored session (sessions.session_access_token:
the stored token, else a refresh, else a login). Two answers are worth another attempt, and
are raised as such so the caller retries later:
- 404 at login (LibreChat does not know the address): `LoginRefused`, set right by the
  account's provisioning;
- 401 to the call (LibreChat dropped the session): the session is marked rejected here and
  `SessionRejected` raised, so the next attempt signs in again.
Calls LibreChat: run them in a task on the server's network queue.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from integrations.http import VendorHTTPError
from integrations.librechat import sessions
from integrations.librechat.client import LibreChatClient
from integrations.librechat.models import LibreChatAccount
from integrations.librechat.servers import client_for as client_for_server


class LoginRefused(Exception):
    """LibreChat refused the person's login; worth another attempt once provisioning ran."""


class SessionRejected(Exception):
    """LibreChat no longer accepts the person's session; the next attempt signs in again."""


def user_key_put(
    *, account: LibreChatAccount, endpoint_name: str, api_key: str, expires_at: dt.datetime | None
) -> None:
    """Put `api_key` into the person's LibreChat under the custom endpoint `endpoint_name`."""
    # A custom endpoint with apiKey "user_provided" takes a JSON string (contract "/api/keys").
    value = json.dumps({"apiKey": api_key})
    _as_person(
        account,
        lambda client, token: client.user_key_put(
            access_token=token, name=endpoint_name, value=value, expires_at=expires_at
        ),
    )


def user_key_expiry(*, account: LibreChatAccount, endpoint_name: str) -> str | None:
    """What LibreChat reports for the person's key: None (no key), "never" or an ISO date."""
    result: str | None = _as_person(
        account, lambda client, token: client.user_key_expiry(access_token=token, name=endpoint_name)
    )
    return result


def _as_person(account: LibreChatAccount, call: Callable[[LibreChatClient, str], Any]) -> Any:
    try:
        token, _ = sessions.session_access_token(account=account)
    except VendorHTTPError as exc:
        if exc.status == 404:
            raise LoginRefused(
                f"LibreChat refused the person's login ({exc.vendor_message}); set up again"
            ) from None
        raise
    client = client_for_server(account.server)
    try:
        return call(client, token.reveal())
    except VendorHTTPError as exc:
        if exc.status == 401:
            sessions.sessions_mark_rejected(account=account)
            raise SessionRejected(
                "LibreChat no longer accepts the person's session; signing in again"
            ) from None
        raise
