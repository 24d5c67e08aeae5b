"""The shared 429 gate: LibreChat counts REGISTER_MAX, LOGIN_MAX and RESET_PASSWORD_MAX per
client IP, and every call from the portal comes from one address, so one 429 closes the gate
for every task talking to that server (contract "Register"/"Login"). The gate is a timestamp
on the server row; a closed gate turns calls into `GateClosed` without asking LibreChat."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Literal, TypeVar

from django.db.models import Q
from django.utils import timezone

from integrations.http import VendorError, VendorHTTPError
from integrations.librechat.models import LibreChatServer

log = logging.getLogger(__name__)
T = TypeVar("T")

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


def gates_open(*, server: LibreChatServer) -> None:
    """Staff raised LibreChat's limits: stop waiting for the windows to pass."""
    LibreChatServer.objects.filter(pk=server.pk).update(**dict.fromkeys(GATE_FIELDS.values()))


def gates_closed(*, server: LibreChatServer) -> list[str]:
    """The closed gates in words, e.g. ["LOGIN_MAX until 12:05:00"]."""
    now = timezone.now()
    return [
        f"{LIMITERS[limiter][0]} until {until:%H:%M:%S}"
        for limiter, field in GATE_FIELDS.items()
        if (until := getattr(server, field)) is not None and until > now
    ]


def gated(server: LibreChatServer, limiter: str, call: Callable[[], T]) -> T:
    """`call()` unless the gate is closed; a 429 closes it for every worker."""
    until = gate_until(server=server, limiter=limiter, fresh=False)
    if until is not None:
        raise GateClosed(limiter, until)
    try:
        return call()
    except VendorHTTPError as exc:
        if exc.status == 429:
            raise GateClosed(limiter, gate_close(server=server, limiter=limiter, error=exc)) from None
        raise
