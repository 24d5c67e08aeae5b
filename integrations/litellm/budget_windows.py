"""A key's budget window, and how it survives a rotation.

LiteLLM takes no `budget_reset_at` from the portal: neither /key/generate nor /key/update has
the field (LiteLLM 1.106.2, litellm/proxy/_types.py GenerateKeyRequest / UpdateKeyRequest;
pydantic drops unknown fields), and both compute it from `budget_duration` at the moment of the
call (key_management_endpoints.py `_effective_key_for_generate` and `prepare_key_update_data`,
via proxy/common_utils/timezone_utils.py `get_budget_reset_time`). A rotation makes a new key,
so the new key's reset date is whatever LiteLLM computes *now*.

That keeps the old key's date only where the reset falls on a fixed boundary
(litellm_core_utils/duration_parser.py `get_next_standardized_reset_time`): 1d at the next
midnight, 7d / 1w on Monday, 30d / 1mo on the 1st of the month (`_handle_day_reset`,
`_handle_month_reset`), and hours, minutes or seconds that divide the day, the hour or the
minute (`_handle_hour_reset` and its siblings align to multiples of the value). Any other
number of days is "midnight of today + N days" (`_handle_day_reset`, the custom branch): a key
made on another day gets another date, so rotating would restart the window. The portal
refuses those durations on plans and keys (`budget_duration_refusal`) and refuses to rotate a
key that still holds one (`rotation_refusal`), saying how to fix it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

# LiteLLM's own words for durations (duration_parser._BUDGET_DURATION_WORD_ALIASES).
_WORDS = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}
_DURATION = re.compile(r"^([0-9]+)(mo|[smhdw])$")

KEPT_DURATIONS = (
    "1d (midnight), 7d or 1w (Monday), 30d or 1mo (the 1st of the month), "
    "hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h), "
    "or minutes or seconds that divide 60"
)


def window_kept_across_rotation(budget_duration: str) -> bool:
    """True when a key made at any moment inside a window gets that window's reset date."""
    normalized = _WORDS.get(budget_duration.strip().lower(), budget_duration.strip())
    match = _DURATION.fullmatch(normalized)
    if match is None:
        return False
    value, unit = int(match.group(1)), match.group(2)
    if value <= 0:
        return False
    if unit == "d":
        return value in (1, 7, 30)
    if unit in ("w", "mo"):
        return value == 1
    if unit == "h":
        return 24 % value == 0
    return 60 % value == 0  # minutes, seconds


def budget_duration_refusal(budget_duration: str) -> str | None:
    """The sentence a form shows under "Budget duration", or None when the duration is fine."""
    if not budget_duration or window_kept_across_rotation(budget_duration):
        return None
    return (
        f"Budget duration '{budget_duration}' would restart the budget period at every key "
        "rotation: LiteLLM counts it from the day a key is made and takes no reset date. "
        f"Use one that resets on a fixed boundary: {KEPT_DURATIONS}."
    )


def rotation_refusal(budget_duration: str) -> str | None:
    """Why a key cannot be rotated without losing its budget period (a row from before the
    forms refused such durations), or None."""
    if not budget_duration or window_kept_across_rotation(budget_duration):
        return None
    return (
        f"not rotated: its budget duration '{budget_duration}' would restart the budget period "
        "(LiteLLM counts it from the day a key is made); change the key's budget duration to "
        f"one of {KEPT_DURATIONS}, then rotate again"
    )


def window_start(budget_duration: str, reset_at: datetime) -> datetime | None:
    """When the window ending at `reset_at` began, for a duration LiteLLM resets on a fixed
    boundary (the month ones start on the same day of the previous month); None for any other."""
    if not budget_duration or not window_kept_across_rotation(budget_duration):
        return None
    normalized = _WORDS.get(budget_duration.strip().lower(), budget_duration.strip())
    match = _DURATION.fullmatch(normalized)
    assert match is not None  # window_kept_across_rotation matched it
    value, unit = int(match.group(1)), match.group(2)
    if unit == "mo" or (unit == "d" and value == 30):
        # LiteLLM's 30d resets on the 1st of the month (_handle_month_reset): a calendar month.
        year, month = (reset_at.year, reset_at.month - 1) if reset_at.month > 1 else (reset_at.year - 1, 12)
        return reset_at.replace(year=year, month=month, day=min(reset_at.day, 28))
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit]
    return reset_at - timedelta(seconds=value * seconds)
