"""When a key was last used, as LiteLLM's spend writer records it (VirtualKey.last_used_at,
copied by the sync), and which keys are idle: the one definition both admins filter by (the
LiteLLM keys admin, and the access app's personal keys through their key)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

NEVER = "never"
# The idle choices of the admins' filters: a value and its words.
IDLE_CHOICES: tuple[tuple[str, str], ...] = (
    (NEVER, "never used"),
    ("30", "not used for 30 days"),
    ("90", "not used for 90 days"),
)


def idle_condition(choice: str, *, prefix: str = "", now: dt.datetime | None = None) -> Q | None:
    """The keys idle in the sense of `choice` (an IDLE_CHOICES value), or None for an unknown
    choice. "Not used for N days" counts a key never used once it is N days old (a key made
    yesterday is not idle). `prefix` reaches the key from another model ("key__"). Served by
    the index on (last_used_at, created_at)."""
    last_used, created = f"{prefix}last_used_at", f"{prefix}created_at"
    if choice == NEVER:
        return Q(**{f"{last_used}__isnull": True})
    if choice not in {value for value, _ in IDLE_CHOICES}:
        return None
    cutoff = (now or timezone.now()) - dt.timedelta(days=int(choice))
    return Q(**{f"{last_used}__lt": cutoff}) | Q(**{f"{last_used}__isnull": True, f"{created}__lt": cutoff})


def last_used_words(last_used_at: dt.datetime | None, *, now: dt.datetime | None = None) -> str:
    """ "never", "today", "3 days ago": what an operator needs from a last use at a glance."""
    if last_used_at is None:
        return "never"
    days = ((now or timezone.now()) - last_used_at).days
    return "today" if days < 1 else f"{days} day{'s' if days != 1 else ''} ago"
