"""What LiteLLM enforces on a key, defined once.

`KeyLimits` is the one list of a key's limits (the fields of /key/generate the portal
manages, contract §2.1): read from a plan, a row, a form or LiteLLM's KeyInfo, and written
onto a row or in LiteLLM's field names (/key/generate, /key/update). Every other list of
these fields (the sync's columns, the updatable fields, the forms) is derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from integrations.litellm.client import KeyInfo
from integrations.litellm.models import KeyPlan, VirtualKey

# The row's field names differ from LiteLLM's only here.
_LITELLM_NAME = {"allowed_models": "models"}


def decimal_or_none(value: float | None, places: int = 4) -> Decimal | None:
    """LiteLLM's float as the row's Decimal (repr, so 0.1 stays 0.1)."""
    if value is None:
        return None
    return round(Decimal(repr(value)), places)


@dataclass
class KeyLimits:
    """A key's limits. `duration` is the key's lifetime (a plan's key_duration, LiteLLM's
    `duration`): it belongs to a create, not to the row, which records `expires` instead."""

    allowed_models: list[str] = field(default_factory=list)  # empty = all models
    max_budget: Decimal | None = None
    budget_duration: str = ""
    soft_budget: Decimal | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    duration: str = ""  # "" = never expires

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, duration: str = "") -> KeyLimits:
        """From anything that names the limits as the row does (a form's cleaned data, a plan's
        or a row's values); missing names take the defaults."""
        return cls(
            allowed_models=list(values.get("allowed_models") or []),
            max_budget=values.get("max_budget"),
            budget_duration=values.get("budget_duration") or "",
            soft_budget=values.get("soft_budget"),
            tpm_limit=values.get("tpm_limit"),
            rpm_limit=values.get("rpm_limit"),
            max_parallel_requests=values.get("max_parallel_requests"),
            duration=duration or values.get("duration") or "",
        )

    @classmethod
    def from_plan(cls, plan: KeyPlan) -> KeyLimits:
        return cls.from_values({name: getattr(plan, name) for name in ROW_FIELDS}, duration=plan.key_duration)

    @classmethod
    def from_row(cls, key: VirtualKey) -> KeyLimits:
        return cls.from_values({name: getattr(key, name) for name in ROW_FIELDS})

    @classmethod
    def from_info(cls, info: KeyInfo) -> KeyLimits:
        """What LiteLLM holds for a key (its floats as the row's Decimals)."""
        return cls(
            allowed_models=list(info.models),
            max_budget=decimal_or_none(info.max_budget),
            budget_duration=info.budget_duration or "",
            soft_budget=decimal_or_none(info.soft_budget),
            tpm_limit=info.tpm_limit,
            rpm_limit=info.rpm_limit,
            max_parallel_requests=info.max_parallel_requests,
        )

    def row_values(self) -> dict[str, Any]:
        """The limits under the row's field names (VirtualKey, KeyPlan)."""
        values = {name: getattr(self, name) for name in ROW_FIELDS}
        values["allowed_models"] = list(values["allowed_models"])  # never shared with the row
        return values

    def apply_to(self, row: VirtualKey | KeyPlan) -> None:
        for name, value in self.row_values().items():
            setattr(row, name, value)

    def differing(self, theirs: KeyLimits) -> list[str]:
        """The row's names of the limits where `theirs` (LiteLLM's) differ from these. Models
        compare as a set (LiteLLM keeps the list as sent, order means nothing); a soft budget
        LiteLLM did not report (None: /key/list may omit the budget table) is not a difference."""
        names = []
        for name in ROW_FIELDS:
            mine, other = getattr(self, name), getattr(theirs, name)
            if name == "allowed_models":
                same = sorted(mine) == sorted(other)
            elif name == "soft_budget" and other is None:
                same = True
            elif isinstance(mine, Decimal) and isinstance(other, Decimal):
                same = mine.compare(other) == 0
            else:
                same = mine == other
            if not same:
                names.append(name)
        return names

    def to_json(self) -> dict[str, Any]:
        """The limits under the row's names as JSON (Decimals as exact text), for a JSON column."""
        return {
            name: str(value) if isinstance(value, Decimal) else value
            for name, value in self.row_values().items()
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> KeyLimits:
        """The inverse of to_json."""
        decimals = {"max_budget", "soft_budget"}
        return cls.from_values(
            {
                name: Decimal(value) if name in decimals and value is not None else value
                for name, value in values.items()
            }
        )

    def to_litellm(self) -> dict[str, Any]:
        """The limits under LiteLLM's field names, as JSON (None = not set)."""
        return {
            _LITELLM_NAME.get(name, name): litellm_value(value) for name, value in self.row_values().items()
        }


def litellm_value(value: Any) -> Any:
    """A row's value as LiteLLM takes it: Decimals as floats, an empty text as "not set"."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return list(value)
    return None if value == "" else value


# --- budgets people type in (the key and plan forms) ---------------------------------------

# The rows' DecimalField(max_digits=12, decimal_places=4).
BUDGET_PLACES = 4
BUDGET_MAX = Decimal("99999999.9999")
# ASCII digits only: Python's Decimal also takes Arabic-Indic (U+0661 U+0660) or fullwidth
# (U+FF11 U+FF10) digits, which look like 10 to a person and to no one else.
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def budget_from_text(label: str, text: str) -> Decimal | None:
    """A budget typed into a form, in USD; None for empty. Raises ValueError with a sentence
    naming the field (`label`) for anything else than a plain number above 0 that fits."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("-") and _PLAIN_NUMBER.fullmatch(text[1:]):
        raise ValueError(f"{label} must be more than 0; leave it empty for no limit.")
    if not _PLAIN_NUMBER.fullmatch(text):
        if any(c.isdigit() and not c.isascii() for c in text):
            raise ValueError(f"{label} must be written with the digits 0-9; '{text}' has other digits.")
        raise ValueError(f"{label} must be a plain number of US dollars, such as 10 or 12.50.")
    value = Decimal(text)
    if value <= 0:
        raise ValueError(
            f"{label} must be more than 0; a budget of 0 stops every call (leave it empty for none)."
        )
    if value > BUDGET_MAX:
        raise ValueError(f"{label} can be at most {BUDGET_MAX:,} US dollars.")
    if value != round(value, BUDGET_PLACES):
        raise ValueError(f"{label} takes at most {BUDGET_PLACES} decimal places.")
    return round(value, BUDGET_PLACES)


def soft_budget_problem(max_budget: Decimal | None, soft_budget: Decimal | None) -> str | None:
    """A sentence when the soft budget (an alert) could never come before the max budget."""
    if max_budget is not None and soft_budget is not None and soft_budget > max_budget:
        return (
            f"Soft budget ({soft_budget.normalize():f}) is above the max budget ({max_budget.normalize():f}): "
            "the alert would come after the key is stopped."
        )
    return None


def budget_below_spend_problem(max_budget: Decimal | None, spend: Decimal) -> str | None:
    """A sentence when a key's new max budget is below what it has already spent in this
    window: LiteLLM would refuse every call at once, a block in disguise."""
    if max_budget is not None and max_budget < spend:
        return (
            f"Max budget ({max_budget.normalize():f}) is below what the key has already spent in this "
            f"budget period ({spend.normalize():f}): it would stop at once. To stop the key, block it."
        )
    return None


# The limit fields as the row names them, and as LiteLLM does (same order).
ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(KeyLimits) if f.name != "duration")
LITELLM_FIELDS: tuple[str, ...] = tuple(_LITELLM_NAME.get(name, name) for name in ROW_FIELDS)
ROW_TO_LITELLM: dict[str, str] = dict(zip(ROW_FIELDS, LITELLM_FIELDS, strict=True))
LITELLM_TO_ROW: dict[str, str] = {litellm: row for row, litellm in ROW_TO_LITELLM.items()}
