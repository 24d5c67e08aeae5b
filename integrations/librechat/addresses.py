"""Where people's LibreChat credentials may go: only to a server address staff confirmed.

Every call that carries a person's password, token or refresh cookie takes its client from
`client_for_server`, which refuses while the server's address (api_url on its network) is not
the one confirmed by staff holding "change server address". A staff member who may only edit
the server row cannot point it at their own listener and collect the next logins; someone with
the permission must confirm the new address first (logged in the admin history). Until then
the workers wait: `AddressUnconfirmed` is a retryable vendor error, so every path that already
waits out an unreachable LibreChat (provisioning, the session endpoint, personal keys, removals)
keeps its row and tries again later; nothing is lost.
"""

from __future__ import annotations

from integrations.http import ErrorKind, VendorError, public_url
from integrations.librechat.client import VENDOR, LibreChatClient, client_for
from integrations.librechat.models import LibreChatServer

CONFIRM_NOTE = "waiting for staff to confirm LibreChat's new address"


class AddressUnconfirmed(VendorError):
    """The server's address changed and nobody with the permission has confirmed it yet."""


def client_for_server(server: LibreChatServer) -> LibreChatClient:
    """The client for calls that carry a person's credentials: only to a confirmed address."""
    if not server.address_confirmed:
        raise AddressUnconfirmed(
            f"LibreChat server {server.name}'s address changed to {public_url(server.api_url)} on "
            f"{server.network}; no one's LibreChat password or token is sent there until staff with "
            '"Can change a server\'s address" confirm it (LibreChat servers → Confirm the new address)',
            kind=ErrorKind.CONNECTION,
            retryable=True,
            vendor=VENDOR,
            url=public_url(server.api_url),
        )
    return client_for(server.api_url)


def address_confirm(*, server: LibreChatServer) -> bool:
    """Confirm the server's current address; False if it was confirmed already."""
    if server.address_confirmed:
        return False
    server.confirmed_address = server.address
    server.save(update_fields=["confirmed_address"])
    return True
