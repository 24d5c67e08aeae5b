"""The /me/ spend chart as server-rendered SVG geometry (no JavaScript: the CSP forbids inline
script), with its text alternative: a sentence and the days as a table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from portal.access.spend import DaySpend, budget_outlook, person_daily_spend

CHART_DAYS = 30  # the chart's span; the rate behind the outlook is its last RATE_DAYS
RATE_DAYS = 7
WIDTH, HEIGHT = 600, 160


@dataclass(frozen=True)
class Bar:
    day: date
    amount: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SpendChart:
    bars: list[Bar]
    outlook: str
    summary: str  # the chart's <desc>: the whole picture in one sentence
    width: int = WIDTH
    height: int = HEIGHT


def spend_chart(
    *, person: Any, spent: Decimal, max_budget: Decimal | None, reset_at: datetime | None
) -> SpendChart:
    today = timezone.now().date()
    days = person_daily_spend(person=person, since=today - timedelta(days=CHART_DAYS - 1), until=today)
    outlook = budget_outlook(
        spent=spent, max_budget=max_budget, reset_at=reset_at, days=days[-RATE_DAYS:], today=today
    )
    return SpendChart(bars=_bars(days), outlook=outlook, summary=_summary(days))


def _bars(days: list[DaySpend]) -> list[Bar]:
    top = max((d.amount for d in days), default=Decimal(0)) or Decimal(1)
    slot = WIDTH / max(len(days), 1)
    bars = []
    for n, d in enumerate(days):
        height = float(d.amount / top) * (HEIGHT - 10)
        bars.append(Bar(d.day, d.amount, n * slot + 1, HEIGHT - height, max(slot - 2, 1), height))
    return bars


def _summary(days: list[DaySpend]) -> str:
    total = sum((d.amount for d in days), Decimal(0))
    busiest = max(days, key=lambda d: d.amount, default=None)
    if busiest is None or busiest.amount <= 0:
        return f"No spend in the last {len(days)} days."
    return (
        f"${total:.2f} spent in the last {len(days)} days; the most on "
        f"{busiest.day:%-d %B} (${busiest.amount:.2f})."
    )
