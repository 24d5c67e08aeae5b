"""A key's spend per day as a chart: this budget period's days stacked on what was spent before
each one, the budget line, a dashed line to the period's end at this rate; without a budget
period of whole days (no budget duration, or one under two days) its last 30 days instead,
stacked the same way under a budget for its whole life. Read by the person's /me/
(portal/access/spend_chart.py, in their words) and the key's and the person's admin pages.

A key row is a chain of keys: THE rotation engine keeps the row across rotations and the
hand-over, so its daily history (spend_history.py) already continues across them and across
budget resets, never negative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from integrations.litellm.models import KeySpend, SpendGrain
from integrations.litellm.spend_forecast import DAY, Forecast, budget_forecast, budget_period, forecast_words
from portal.core.money import dollars
from portal.core.svg_charts import Column, ColumnChart, column_chart

CHART_DAYS = 30  # the span without a budget period; its last RATE_DAYS give a lifetime budget's rate
RATE_DAYS = 7


@dataclass(frozen=True)
class DaySpend:
    day: date
    amount: Decimal


def key_daily_spend(*, key_id: int | None, since: date, until: date) -> list[DaySpend]:
    """Spend per UTC day from `since` to `until` inclusive, days without spend as zero. One
    query of at most (until - since + 1) rows, on the (key, grain, bucket) unique index."""
    by_day: dict[date, Decimal] = {}
    if key_id is not None:
        rows = (
            KeySpend.objects.filter(
                key_id=key_id,
                grain=SpendGrain.DAY,
                bucket__gte=_midnight(since),
                bucket__lt=_midnight(until + timedelta(days=1)),
            )
            .values_list("bucket")
            .annotate(total=Sum("amount"))
            .order_by()
        )
        by_day = {bucket.astimezone(UTC).date(): total for bucket, total in rows}
    days = (until - since).days + 1
    return [DaySpend(day, by_day.get(day, Decimal(0))) for day in (since + timedelta(n) for n in range(days))]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)  # history buckets are UTC days


@dataclass(frozen=True)
class SpendChart:
    chart: ColumnChart
    forecast: Forecast
    outlook: str  # the sentence over the chart


def key_spend_chart(
    *,
    key_id: int | None,
    spent: Decimal,
    max_budget: Decimal | None,
    reset_at: datetime | None,
    budget_duration: str = "",
    dom_id: str = "spend",
    whose: str = "Spend",
    words: Callable[[Forecast], str] = forecast_words,
    width: int = 600,
    height: int = 160,
) -> SpendChart:
    now = timezone.now()
    today = now.date()
    period = budget_period(budget_duration=budget_duration, reset_at=reset_at)
    in_period = period is not None and period.end - period.start >= 2 * DAY and period.start <= now
    if period is not None and in_period:
        first, last = period.start.date(), (period.end - timedelta(microseconds=1)).date()
    else:
        first, last = today - timedelta(days=CHART_DAYS - 1), today
    days = key_daily_spend(key_id=key_id, since=first, until=min(today, last))
    recent = days[-RATE_DAYS:]
    forecast = budget_forecast(
        spent=spent,
        max_budget=max_budget,
        budget_duration=budget_duration,
        reset_at=reset_at,
        now=now,
        recent_per_day=sum((d.amount for d in recent), Decimal(0)) / max(len(recent), 1),
    )
    stacked = in_period or (max_budget is not None and not budget_duration)
    columns = _columns(days, spent=spent, stacked=stacked)
    columns += [Column(f"{d:%-d %B}", Decimal(0), future=True) for d in _days(today + timedelta(1), last)]
    projection = spent + forecast.per_day * Decimal((last - today).days) if columns[-1].future else None
    span = f"from {first:%-d %B} to {last:%-d %B}" if in_period else f"over the last {len(days)} days"
    chart = column_chart(
        columns,
        dom_id=dom_id,
        title=f"{whose} per day, {span}",
        summary=_summary(days, spent=spent, max_budget=max_budget, stacked=stacked),
        line=max_budget if stacked or budget_duration in ("1d", "24h", "daily") else None,
        line_label=f"budget {dollars(max_budget)}" if max_budget is not None else "",
        projection_to=projection,
        stacked=stacked,
        width=width,
        height=height,
    )
    return SpendChart(chart, forecast, words(forecast))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def _columns(days: list[DaySpend], *, spent: Decimal, stacked: bool) -> list[Column]:
    """Stacked: what was spent before each day is the level now less what came after it (the
    history may start after the period did: the level, not the history, is LiteLLM's word)."""
    columns = []
    after = sum((d.amount for d in days), Decimal(0))
    for d in days:
        after -= d.amount
        base = max(spent - after - d.amount, Decimal(0)) if stacked else Decimal(0)
        columns.append(Column(f"{d.day:%-d %B}", d.amount, base))
    return columns


def _summary(days: list[DaySpend], *, spent: Decimal, max_budget: Decimal | None, stacked: bool) -> str:
    total = sum((d.amount for d in days), Decimal(0))
    busiest = max(days, key=lambda d: d.amount, default=None)
    if busiest is None or busiest.amount <= 0:
        words = f"No spend in these {len(days)} days."
    else:
        words = (
            f"{dollars(total)} spent in these {len(days)} days; the most on "
            f"{busiest.day:%-d %B} ({dollars(busiest.amount)})."
        )
    if stacked and max_budget is not None:
        words += f" {dollars(spent)} of the {dollars(max_budget)} budget used."
    return words
