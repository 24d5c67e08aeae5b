"""What the admin's spend page shows, each a bounded read: top spenders over 30 or 90 days,
totals per plan and per server (from KeySpendWindow, one row per key), and keys near or over
their budget (the VirtualKey index on spend / max_budget), each with a forecast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum

from integrations.litellm.models import KeySpendWindow, KeyStatus, VirtualKey
from integrations.litellm.spend_forecast import Forecast, budget_forecast

TOP = 25  # rows per list: the page reads these many, at 10 k history rows as at 10 M
NEAR_BUDGET = Decimal("0.8")  # "near": this share of the budget used (alerts have their own thresholds)
GROUPS = 10

_KEY_FIELDS = (
    "key_alias",
    "key_name",
    "owner",
    "metadata",
    "max_budget",
    "spend",
    "budget_duration",
    "budget_reset_at",
    "plan__name",
    "server__name",
)


@dataclass(frozen=True)
class KeyLine:
    key_id: int
    label: str
    owner: str
    person_id: int | None  # a person's key carries their id (portal.access), for a link
    plan: str
    server: str
    spent_in_window: Decimal
    spend: Decimal  # this budget period's, as LiteLLM last said
    max_budget: Decimal | None
    reset_at: datetime | None
    forecast: Forecast

    @property
    def used_percent(self) -> int | None:
        return round(100 * self.spend / self.max_budget) if self.max_budget else None


def _line(key_id: int, values: dict[str, Any], *, window: Decimal, days: int, now: datetime) -> KeyLine:
    person = (values["metadata"] or {}).get("portal_person_id")
    return KeyLine(
        key_id=key_id,
        label=values["key_alias"] or values["key_name"] or f"key #{key_id}",
        owner=values["owner"],
        person_id=person if isinstance(person, int) else None,
        plan=values["plan__name"] or "",
        server=values["server__name"],
        spent_in_window=window,
        spend=values["spend"],
        max_budget=values["max_budget"],
        reset_at=values["budget_reset_at"],
        forecast=budget_forecast(
            spent=values["spend"],
            max_budget=values["max_budget"],
            budget_duration=values["budget_duration"],
            reset_at=values["budget_reset_at"],
            now=now,
            recent_per_day=window / days,
        ),
    )


def top_spenders(*, days: int, now: datetime, limit: int = TOP) -> list[KeyLine]:
    """One query: the window's index gives the order, the join the key's few columns."""
    rows = (
        KeySpendWindow.objects.filter(days=days)
        .order_by("-amount")
        .values("key_id", "amount", *(f"key__{name}" for name in _KEY_FIELDS))[:limit]
    )
    return [
        _line(
            row["key_id"],
            {name: row[f"key__{name}"] for name in _KEY_FIELDS},
            window=row["amount"],
            days=days,
            now=now,
        )
        for row in rows
    ]


def spend_per(*, field: str, days: int, limit: int = GROUPS) -> list[tuple[str, Decimal]]:
    """Totals per plan (`key__plan__name`) or per server (`key__server__name`): one row per key
    summed, never the history."""
    rows = (
        KeySpendWindow.objects.filter(days=days)
        .values_list(field)
        .annotate(total=Sum("amount"))
        .order_by("-total")[:limit]
    )
    return [(name or "no plan", total) for name, total in rows]


def near_budget(*, days: int, now: datetime, limit: int = TOP) -> list[KeyLine]:
    """Keys at NEAR_BUDGET of their budget or over it, the fullest first (the index on
    spend / max_budget serves both the filter and the order)."""
    rows = list(
        VirtualKey.objects.filter(max_budget__gt=0)
        .exclude(status=KeyStatus.DELETED)
        .annotate(used=F("spend") / F("max_budget"))
        .filter(used__gte=NEAR_BUDGET)
        .order_by("-used")
        .values("pk", *_KEY_FIELDS)[:limit]
    )
    windows = dict(
        KeySpendWindow.objects.filter(days=days, key_id__in=[r["pk"] for r in rows]).values_list(
            "key_id", "amount"
        )
    )
    return [_line(r["pk"], r, window=windows.get(r["pk"], Decimal(0)), days=days, now=now) for r in rows]
