"""The heartbeat bar: a placement's last checks as small bars, newest right (as Uptime Kuma).

The last HEARTBEAT_CHECKS outcomes live on the placement row (`TargetNetwork.recent_checks`),
appended by the check writer in the UPDATE it already makes under the row lock. So the whole
grid's bars come with the placements query: no read of CheckResult at all, the same cost at
10 k or 10 M results and on SQLite as on PostgreSQL. (A ROW_NUMBER() OVER (PARTITION BY ...)
over CheckResult reads every row of each partition before it filters; a LATERAL ... LIMIT is
PostgreSQL-only and still one index probe per cell on every refresh.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

HEARTBEAT_CHECKS = 24


def heartbeat_append(
    recent: list[Any] | None, *, at: datetime, ok: bool, latency_ms: float | None
) -> list[list[Any]]:
    """The stored list with one more check, oldest first, cut to the last HEARTBEAT_CHECKS.

    Each check is [unix seconds, 1 or 0, latency ms or null]: short, since it is on every row.
    Placed by its time, not appended: a sweep stamps its checks when its probes end and records
    them one by one, so a "Check now" taken later can be recorded first. Appending would put
    the older check right of the newer one (and cut a newer one), unlike CheckResult's order."""
    entry = [int(at.timestamp()), 1 if ok else 0, latency_ms]
    return sorted([*_checks(recent), entry], key=lambda check: check[0])[-HEARTBEAT_CHECKS:]


def _checks(recent: list[Any] | None) -> list[list[Any]]:
    """The well-formed entries of a stored list (a JSON column: never trusted to crash a writer)."""
    return [
        c for c in (recent or []) if isinstance(c, list) and len(c) == 3 and isinstance(c[0], int | float)
    ]


@dataclass(frozen=True)
class Beat:
    outcome: str  # up, down, none (no check yet in that slot): the CSS class
    title: str  # the bar's own text alternative: when and what


@dataclass(frozen=True)
class Heartbeat:
    beats: list[Beat]  # always HEARTBEAT_CHECKS long, padded on the left, newest right
    label: str  # "last 24 checks: 22 up, 2 down"

    @property
    def html(self) -> SafeString:
        """The bars in one join: 400 cells x 24 bars through the template's loop (or
        format_html per bar) was most of the dashboard's render time. `outcome` is one of
        three fixed words; the title is escaped."""
        return mark_safe(  # noqa: S308 -- every interpolated value is a fixed word or escaped
            "".join(
                f'<span class="conn-beat conn-beat-{b.outcome}" title="{escape(b.title)}"></span>'
                for b in self.beats
            )
        )


def heartbeat_of(recent: list[Any] | None) -> Heartbeat:
    checks = _checks(recent)[-HEARTBEAT_CHECKS:]
    beats = [Beat("none", "no check yet")] * (HEARTBEAT_CHECKS - len(checks))
    up = 0
    for seconds, ok, latency in checks:
        at = datetime.fromtimestamp(seconds, tz=UTC)
        word = "up" if ok else "down"
        up += 1 if ok else 0
        ms = f", {latency} ms" if latency is not None else ""
        beats.append(Beat(word, f"{at:%Y-%m-%d %H:%M:%S} UTC: {word}{ms}"))
    if not checks:
        return Heartbeat(beats, "no checks yet")
    return Heartbeat(beats, f"last {len(checks)} checks: {up} up, {len(checks) - up} down")
