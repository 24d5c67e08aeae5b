"""A person's spend over time: one line across the keys they held.

THE rotation engine (integrations/litellm/rotation.py) keeps one key row across rotations and
a person's PersonalKey names that row, so a person's chain of keys is one row and their series
is that row's daily history (integrations/litellm/spend_history.py), which already continues
across rotations and budget resets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from integrations.litellm.models import KeySpend, SpendGrain


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal


def person_daily_spend(*, person: Any, since: date, until: date) -> list[DaySpend]:
    """Spend per UTC day from `since` to `until` inclusive, days without spend as zero. One
    query, on the (key, grain, bucket) unique index."""
    personal = getattr(person, "personal_key", None)
    by_day: dict[date, Decimal] = {}
    if personal is not None and personal.key_id is not None:
        rows = (
            KeySpend.objects.filter(
                key_id=personal.key_id,
                grain=SpendGrain.DAY,
                bucket__gte=_midnight(since),
                bucket__lt=_midnight(until + timedelta(days=1)),
            )
            .values_list("bucket")
            .annotate(total=Sum("amount"))
            .order_by()
        )
        by_day = {bucket.date(): total for bucket, total in rows}
    days = (until - since).days + 1
    return [DaySpend(day, by_day.get(day, Decimal(0))) for day in (since + timedelta(n) for n in range(days))]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)  # history buckets are UTC days


def budget_outlook(
    *,
    spent: Decimal,
    max_budget: Decimal | None,
    reset_at: datetime | None,
    days: list[DaySpend],
    today: date,
) -> str:
    """The sentence under the chart: when the budget runs out at this period's daily rate, or
    that it resets first. `days`: this budget period so far, today included."""
    if max_budget is None:
        return "Your key has no budget limit."
    resets = f" It resets on {reset_at:%-d %B %Y}." if reset_at is not None else ""
    left = max_budget - spent
    if left <= 0:
        return "Your budget is used up." + resets
    rate = sum((d.amount for d in days), Decimal(0)) / max(len(days), 1)
    if rate <= 0:
        return f"You have spent nothing this period; ${left:.2f} of ${max_budget:.2f} left." + resets
    runs_out = today + timedelta(days=int(left / rate))
    if reset_at is not None and runs_out >= reset_at.date():
        return f"At this rate your budget resets on {reset_at:%-d %B %Y} before you run out."
    return f"At this rate your budget lasts until {runs_out:%-d %B %Y}." + resets
