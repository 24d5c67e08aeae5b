"""The /me/ spend chart (integrations/litellm/spend_series.py) in the person's own words."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from integrations.litellm.spend_series import SpendChart, key_spend_chart
from portal.access.spend import person_outlook


def person_spend_chart(
    *, person: Any, key: Any, whose: str = "Your spend", dom_id: str = "spend"
) -> SpendChart:
    """`key`: the person's KeyOverview (portal/access/overview.py)."""
    personal = getattr(person, "personal_key", None)
    spent = Decimal(str(key.spend))
    max_budget = Decimal(str(key.max_budget)) if key.max_budget is not None else None
    return key_spend_chart(
        key_id=personal.key_id if personal is not None else None,
        spent=spent,
        max_budget=max_budget,
        reset_at=key.budget_reset_at,
        budget_duration=key.budget_duration,
        dom_id=dom_id,
        whose=whose,
        words=partial(person_outlook, spent=spent, max_budget=max_budget),
    )
