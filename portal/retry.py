"""When to try again: the one backoff of the portal's work rows (accounts, keys, mail)."""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone


def backoff_at(attempts: int, *, base_seconds: float, cap_seconds: float) -> dt.datetime:
    """Doubling from `base_seconds` after the first failed attempt, capped, with up to 10 %
    jitter so many rows that failed together do not all retry in the same second."""
    seconds = min(base_seconds * 2 ** max(0, attempts - 1), cap_seconds)
    seconds *= 1 + random.random() * 0.1
    return timezone.now() + dt.timedelta(seconds=seconds)
