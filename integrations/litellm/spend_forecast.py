"""When a key's budget runs out at the rate it is spending, or that its budget resets first.

One forecast for the person's /me/ and the admin's spend page, told in their own words there.
The rate is this budget period's: what LiteLLM says the key spent since its last reset (its
`spend`), over the time since the period began (budget_windows.window_start). A key with a
budget but no budget duration (a budget for its whole life) has no period: its rate is the
recent daily history the caller passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from integrations.litellm.budget_windows import window_start

DAY = timedelta(days=1)


class Outlook(StrEnum):
    NO_BUDGET = "no_budget"
    USED_UP = "used_up"
    RESET_DUE = "reset_due"  # the reset date has passed; LiteLLM zeroes the spend at its next check
    IDLE = "idle"  # nothing spent at all this period
    RUNS_OUT = "runs_out"
    RESETS_FIRST = "resets_first"


@dataclass(frozen=True)
class Forecast:
    outlook: Outlook
    left: Decimal  # of the budget; negative when over it
    runs_out: date | None = None  # RUNS_OUT: the UTC day the budget is used up at this rate
    resets_on: datetime | None = None
    per_day: Decimal = Decimal(0)


@dataclass(frozen=True)
class BudgetPeriod:
    start: datetime
    end: datetime  # the reset


def budget_period(*, budget_duration: str, reset_at: datetime | None) -> BudgetPeriod | None:
    """The key's current budget period, when LiteLLM resets it on a fixed boundary."""
    if reset_at is None:
        return None
    start = window_start(budget_duration, reset_at)
    return BudgetPeriod(start, reset_at) if start is not None else None


def budget_forecast(
    *,
    spent: Decimal,
    max_budget: Decimal | None,
    budget_duration: str,
    reset_at: datetime | None,
    now: datetime,
    recent_per_day: Decimal = Decimal(0),
) -> Forecast:
    """`recent_per_day`: the daily rate to use when the key has no budget period."""
    left = (max_budget - spent) if max_budget is not None else Decimal(0)
    if max_budget is None:
        return Forecast(Outlook.NO_BUDGET, left)
    if reset_at is not None and reset_at <= now:
        return Forecast(Outlook.RESET_DUE, left, resets_on=reset_at)
    if left <= 0:
        return Forecast(Outlook.USED_UP, left, resets_on=reset_at)
    period = budget_period(budget_duration=budget_duration, reset_at=reset_at)
    if period is not None:
        # At least a day (or the whole period, when shorter) so that a period a few minutes old
        # does not extrapolate one request into a day's spend.
        elapsed = max(now - period.start, min(period.end - period.start, DAY))
        per_day = spent / Decimal(elapsed / DAY)
    else:
        per_day = recent_per_day
    if per_day <= 0:
        return Forecast(Outlook.IDLE, left, resets_on=reset_at)
    runs_out_at = now + DAY * float(left / per_day)
    if reset_at is not None and runs_out_at >= reset_at:
        return Forecast(Outlook.RESETS_FIRST, left, resets_on=reset_at, per_day=per_day)
    return Forecast(Outlook.RUNS_OUT, left, runs_out=runs_out_at.date(), resets_on=reset_at, per_day=per_day)


def forecast_words(forecast: Forecast) -> str:
    """The admin's short column: what happens first."""
    match forecast.outlook:
        case Outlook.NO_BUDGET:
            return "no budget"
        case Outlook.USED_UP:
            return "used up" + (f"; resets {forecast.resets_on:%-d %b}" if forecast.resets_on else "")
        case Outlook.RESET_DUE:
            return f"reset due since {forecast.resets_on:%-d %b %H:%M}"
        case Outlook.IDLE:
            return "not spending"
        case Outlook.RESETS_FIRST:
            return f"resets {forecast.resets_on:%-d %b} first"
        case _:
            return f"runs out on {forecast.runs_out:%-d %b %Y}"
