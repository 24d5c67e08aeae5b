"""Column words the admin lists share, so that work in flight reads the same everywhere and a
list keeps to few columns (a 1366 px screen beside the navigation and the filters)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone


def next_try_words(attempts: int, next_attempt_at: datetime | None) -> str:
    """One column for two: 'attempt 3, next 16:50 UTC'; empty when nothing is due."""
    if next_attempt_at is None:
        return f"{attempts} attempt(s), none due" if attempts else ""
    at = next_attempt_at.astimezone(UTC)
    today = timezone.now().astimezone(UTC).date()
    when = f"{at:%H:%M} UTC" if at.date() == today else f"{at:%Y-%m-%d %H:%M} UTC"
    return f"attempt {attempts}, next {when}" if attempts else f"next {when}"
