"""The /me/ spend chart: this budget period's spend per day, stacked on what was spent before
each day, with the budget line, a dashed line to the period's end at this rate, and the
sentence that says whether the budget lasts (integrations/litellm/spend_forecast.py).

A key without a budget period of whole days (no budget duration, or one shorter than two days)
shows its last 30 days instead; with a budget for its whole life, stacked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from integrations.litellm.spend_forecast import DAY, budget_forecast, budget_period
from portal.access.spend import DaySpend, key_daily_spend, person_outlook
from portal.core.svg_charts import Column, ColumnChart, column_chart, dollars

CHART_DAYS = 30  # the span without a budget period; its last RATE_DAYS give a lifetime budget's rate
RATE_DAYS = 7


@dataclass(frozen=True)
class SpendChart:
    chart: ColumnChart
    outlook: str


def spend_chart(
    *,
    key_id: int | None,
    spent: Decimal,
    max_budget: Decimal | None,
    reset_at: datetime | None,
    budget_duration: str = "",
    dom_id: str = "spend",
    whose: str = "Your",
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
    label = "from" if in_period else "over the last"
    span = f"{first:%-d %B} to {last:%-d %B}" if in_period else f"{len(days)} days"
    chart = column_chart(
        columns,
        dom_id=dom_id,
        title=f"{whose} spend per day, {label} {span}",
        summary=_summary(days, spent=spent, max_budget=max_budget, stacked=stacked),
        line=max_budget if stacked or budget_duration in ("1d", "24h", "daily") else None,
        line_label=f"budget {dollars(max_budget)}" if max_budget is not None else "",
        projection_to=projection,
        stacked=stacked,
    )
    return SpendChart(chart, person_outlook(forecast, spent=spent, max_budget=max_budget))


def person_spend_chart(*, person: Any, key: Any) -> SpendChart:
    """`key`: the person's KeyOverview (portal/access/overview.py)."""
    personal = getattr(person, "personal_key", None)
    return spend_chart(
        key_id=personal.key_id if personal is not None else None,
        spent=Decimal(str(key.spend)),
        max_budget=Decimal(str(key.max_budget)) if key.max_budget is not None else None,
        reset_at=key.budget_reset_at,
        budget_duration=key.budget_duration,
    )


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
