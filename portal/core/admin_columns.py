"""Column words the admin lists share, so that work in flight reads the same everywhere and a
list keeps to few columns (a 1366 px screen beside the navigation and the filters)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def next_try_words(attempts: int, next_attempt_at: datetime | None) -> str:
    """ "attempt 3, next 16:50 UTC" in one column instead of two; "" when nothing is due."""
    if next_attempt_at is None:
        return f"{attempts} attempt(s), none due" if attempts else ""
    at = (
        timezone.localtime(next_attempt_at, timezone.UTC)
        if timezone.is_aware(next_attempt_at)
        else next_attempt_at
    )
    when = f"{at:%H:%M} UTC" if at.date() == timezone.now().date() else f"{at:%Y-%m-%d %H:%M} UTC"
    return f"attempt {attempts}, next {when}" if attempts else f"next {when}"
