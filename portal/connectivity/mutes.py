"""Maintenance windows: during one, a change is recorded (the alerts list, the dashboard) but
no channel hears of it. Read by alert_raise, so every alert honours them."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from portal.connectivity.models import MuteWindow, Network, Target


def mutes_active(*, now: datetime) -> list[MuteWindow]:
    """Every window open at `now`: one query (the index on ends_at keeps it to the few open)."""
    return list(
        MuteWindow.objects.filter(ends_at__gt=now, starts_at__lte=now)
        .select_related("target", "network")
        .order_by("ends_at", "id")
    )


def mute_covering(*, network: Network | None, target: Target | None, now: datetime) -> MuteWindow | None:
    """The open window that mutes `target` seen from `network`, if any."""
    scopes = Q(target__isnull=True, network=network)  # the whole network
    if target is not None:
        scopes |= Q(target=target, network__isnull=True) | Q(target=target, network=network)
    return (
        MuteWindow.objects.filter(scopes, ends_at__gt=now, starts_at__lte=now)
        .select_related("target", "network")
        .order_by("-ends_at")
        .first()
    )


def muted_because(*, network: Network | None, target: Target | None, now: datetime) -> str:
    window = mute_covering(network=network, target=target, now=now)
    if window is None:
        return ""
    why = f" ({window.reason})" if window.reason else ""
    return f"Not sent: {window.scope} is muted until {window.ends_at:%Y-%m-%d %H:%M} UTC{why}."


def mute_for(windows: list[MuteWindow], *, target_id: int, network_id: int) -> MuteWindow | None:
    """From `mutes_active`'s list: the window muting one dashboard cell (no query per cell)."""
    for window in windows:
        if window.target_id in (None, target_id) and window.network_id in (None, network_id):
            return window
    return None
