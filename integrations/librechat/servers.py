"""LibreChat servers: which one takes new accounts, where people's credentials may go, and
the server's "Test connection".

Where people's LibreChat credentials may go: only to a server address staff confirmed. Every
call that carries a person's password, token or refresh cookie takes its client from
`client_for`, which refuses while the server's address (api_url on its network) is not the one
confirmed by staff holding "change server address". A staff member who may only edit the
server row cannot point it at their own listener and collect the next logins; someone with the
permission must confirm the new address first (logged in the admin history). Until then the
workers wait: `AddressUnconfirmed` is a retryable vendor error, so every path that already
waits out an unreachable LibreChat (provisioning, the session endpoint, personal keys,
removals) keeps its row and tries again later; nothing is lost.
"""

from __future__ import annotations

from integrations.checks import ServerCheck, health_first
from integrations.http import ErrorKind, VendorError, public_url
from integrations.librechat.client import VENDOR, LibreChatClient, LibreChatConfig
from integrations.librechat.client import client_for as client_at
from integrations.librechat.models import LibreChatServer

# Failures that still mean the server answered (as opposed to DNS, refused, timed out, TLS).
ANSWERED = (ErrorKind.HTTP_STATUS, ErrorKind.INVALID_JSON, ErrorKind.BAD_SHAPE, ErrorKind.TOO_LARGE)
CONFIRM_NOTE = "waiting for staff to confirm LibreChat's new address"


class AddressUnconfirmed(VendorError):
    """The server's address changed and nobody with the permission has confirmed it yet."""


def client_for(server: LibreChatServer) -> LibreChatClient:
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
    return client_at(server.api_url)


def address_confirm(*, server: LibreChatServer) -> bool:
    """Confirm the server's current address; False if it was confirmed already."""
    if server.address_confirmed:
        return False
    server.confirmed_address = server.address
    server.save(update_fields=["confirmed_address"])
    return True


def server_for_new_accounts() -> LibreChatServer | None:
    return LibreChatServer.objects.filter(accepts_new_accounts=True).order_by("pk").first()


def server_check(*, server: LibreChatServer) -> ServerCheck:
    """/health, then /api/config: is LibreChat up, and will it take new accounts? No person's
    credentials go out, so an unconfirmed address may be checked (that is how staff check it).
    /health is probed and explained from the server's network first (checks.health_first)."""
    unreachable = health_first(
        vendor=VENDOR,
        health_url=public_url(server.api_url).rstrip("/") + "/health",
        preset="librechat_health",
        network=server.network,
    )
    if unreachable is not None:
        return unreachable
    client = client_at(server.api_url)
    try:
        client.health()
        config = client.config()
    except VendorError as exc:
        return ServerCheck(
            vendor=VENDOR,
            reachable=exc.kind in ANSWERED,
            ok=False,
            diagnosis=str(exc),
            network=server.network,
        )
    blocking = []
    if not config.registration_enabled:
        blocking.append("registration is closed (ALLOW_REGISTRATION), so new people cannot get accounts")
    if not config.email_login_enabled:
        blocking.append("email login is off (ALLOW_EMAIL_LOGIN), so the portal cannot sign in")
    notes = list(blocking)
    if config.email_enabled:
        notes.append("an email service is configured, so stale accounts cannot be taken over by a reset")
    diagnosis = f"LibreChat at {server.api_url} answers" + (
        ": " + "; ".join(notes) if notes else "; ready for new accounts"
    )
    return ServerCheck(
        vendor=VENDOR,
        reachable=True,
        ok=not blocking,
        diagnosis=diagnosis,
        version=config.version,
        details={
            "registration": "open" if config.registration_enabled else "closed",
            "email login": "on" if config.email_login_enabled else "off",
            "password reset": "on" if config.password_reset_enabled else "off",
            "email service": "configured" if config.email_enabled else "none",
        },
        fix=_fix_for(config),
        network=server.network,
    )


def _fix_for(config: LibreChatConfig) -> str:
    settings = [
        name
        for name, on in (
            ("ALLOW_REGISTRATION=true", config.registration_enabled),
            ("ALLOW_EMAIL_LOGIN=true", config.email_login_enabled),
        )
        if not on
    ]
    return f"Set {' and '.join(settings)} in LibreChat's .env and restart it." if settings else ""
