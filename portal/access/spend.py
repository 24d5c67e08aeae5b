"""The sentence over a person's spend chart (spend_chart.py), in their words.

THE rotation engine (integrations/litellm/rotation.py) keeps one key row across rotations and
the hand-over to LibreChat, and a person's PersonalKey names that row, so a person's chain of
keys is one row and their chart is that row's daily history (spend_series.py), which already
continues across rotations and budget resets and never goes negative.
"""

from __future__ import annotations

from decimal import Decimal

from integrations.litellm.spend_forecast import Forecast, Outlook
from portal.core.money import dollars


def person_outlook(forecast: Forecast, *, spent: Decimal, max_budget: Decimal | None) -> str:
    """The sentence over the person's chart."""
    budget = max_budget if max_budget is not None else Decimal(0)
    resets = f" It starts again on {forecast.resets_on:%-d %B %Y}." if forecast.resets_on else ""
    match forecast.outlook:
        case Outlook.NO_BUDGET:
            return f"Your key has no budget limit; {dollars(spent)} spent this period."
        case Outlook.RESET_DUE:
            return (
                f"Your budget period ended on {forecast.resets_on:%-d %B %Y %H:%M} UTC; "
                "LiteLLM starts the new one at its next check."
            )
        case Outlook.USED_UP:
            return f"Your budget is used up: {dollars(spent)} of {dollars(budget)}." + resets
        case Outlook.IDLE:
            return (
                f"You have spent nothing this period; {dollars(forecast.left)} of {dollars(budget)} left."
                + resets
            )
        case Outlook.RESETS_FIRST:
            return f"At this rate your budget resets on {forecast.resets_on:%-d %B %Y} before you run out."
        case _:
            return f"At this rate your budget lasts until {forecast.runs_out:%-d %B %Y}." + resets
