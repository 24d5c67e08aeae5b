"""Limits changed in LiteLLM behind the portal's back: found by the sync, fixed in one click.

A key the portal made (staff's or a person's) keeps the portal's limits on its row ("ours");
when LiteLLM reports other limits for it ("theirs": budget, budget period, soft budget,
rate limits, models, the one `KeyLimits` list), the sync records theirs on the row
(`drift_limits`, `drift_found_at`) instead of copying them over ours. Then either

- `key_restore_ours`: LiteLLM is told our values for the limits that differ, through the
  key's pending UPDATE (key_work), like any other change; or
- `key_accept_theirs`: the row takes LiteLLM's values, no call needed.

Until then `key_enforced_limits` is what LiteLLM enforces (what /me/ shows). A key found only
in LiteLLM has no "ours": the sync copies its limits as before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrations.litellm import keys
from integrations.litellm.limits import ROW_FIELDS, ROW_TO_LITELLM, KeyLimits
from integrations.litellm.models import KeyOrigin, VirtualKey

# `told` for key_apply_info: LiteLLM was just given every limit by the portal (a create, a
# rotation's replacement), so what it answers is ours.
ALL_LIMITS: tuple[str, ...] = ROW_FIELDS


def key_is_ours(key: VirtualKey) -> bool:
    """The portal made the key, so the row's limits are the portal's intent."""
    return key.origin == KeyOrigin.PORTAL


def drift_take_answer(key: VirtualKey, theirs: KeyLimits, *, told: Collection[str], now: datetime) -> None:
    """LiteLLM reported `theirs` for the key. The limits it was just `told` by the portal (row
    names) are ours and copied; of the others, a key we made keeps ours and records any
    difference as drift; a key found in LiteLLM takes them all."""
    if key.rotation_swap_spend is not None:
        # While a rotation's old and new key share the budget (rotation_pair), LiteLLM holds
        # this key's share as its max_budget: the portal's own doing, neither ours nor drift.
        theirs = replace(theirs, max_budget=key.max_budget)
    answer = theirs.row_values()
    if theirs.soft_budget is None:  # not reported (§2.1: /key/generate and /key/update omit it)
        answer.pop("soft_budget")
    copied = answer if not key_is_ours(key) else {n: v for n, v in answer.items() if n in told}
    for name, value in copied.items():
        setattr(key, name, value)
    _drift_note(key, theirs, now)


def _drift_note(key: VirtualKey, theirs: KeyLimits, now: datetime) -> None:
    differing = KeyLimits.from_row(key).differing(theirs)
    if not differing:
        key.drift_limits, key.drift_found_at = {}, None
        return
    recorded = theirs.to_json()
    if theirs.soft_budget is None:  # unknown, not different: what LiteLLM enforces is ours
        recorded["soft_budget"] = KeyLimits.from_row(key).to_json()["soft_budget"]
    key.drift_limits = recorded
    key.drift_found_at = key.drift_found_at or now  # when first found, even if theirs moved again


def key_enforced_limits(key: VirtualKey) -> KeyLimits:
    """What LiteLLM enforces for the key as of the last sync: theirs while they differ."""
    if key.drift_found_at is not None and key.drift_limits:
        return KeyLimits.from_json(key.drift_limits)
    return KeyLimits.from_row(key)


@dataclass(frozen=True)
class Difference:
    name: str  # the row's field name
    ours: Any
    theirs: Any

    def __str__(self) -> str:
        return f"{self.name.replace('_', ' ')}: ours {_shown(self.ours)}, LiteLLM's {_shown(self.theirs)}"


def _shown(value: Any) -> str:
    if value in (None, "", []):
        return "none" if not isinstance(value, list) else "all models"
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 10, 12.5: never 1E+1
    return str(value)


def drift_differences(key: VirtualKey) -> list[Difference]:
    """The limits LiteLLM holds otherwise than we do, ours and theirs."""
    if key.drift_found_at is None or not key.drift_limits:
        return []
    ours, theirs = KeyLimits.from_row(key), KeyLimits.from_json(key.drift_limits)
    return [Difference(n, getattr(ours, n), getattr(theirs, n)) for n in ours.differing(theirs)]


def key_restore_ours(*, key: VirtualKey, enqueue: bool = True) -> list[str]:
    """Tell LiteLLM our values for the limits that differ (only those: sending an unchanged
    budget_duration would restart LiteLLM's budget window). Returns their names. Raises
    ValueError when nothing differs or the key is busy."""
    names = [d.name for d in drift_differences(key)]
    if not names:
        raise ValueError("LiteLLM holds the portal's limits for this key; nothing to restore")
    ours = KeyLimits.from_row(key).to_litellm()
    changes = {ROW_TO_LITELLM[n]: ours[ROW_TO_LITELLM[n]] for n in names}
    keys.key_update_limits(key=key, changes=changes, enqueue=enqueue)
    return names


def key_accept_theirs(*, key: VirtualKey) -> list[str]:
    """The row takes LiteLLM's limits for this key. Returns the names that changed. Raises
    ValueError when nothing differs or LiteLLM is being told something about the key."""
    with transaction.atomic():
        row = VirtualKey.objects.select_for_update().get(pk=key.pk)
        names = [d.name for d in drift_differences(row)]
        if not names:
            raise ValueError("LiteLLM holds the portal's limits for this key; nothing to accept")
        if row.pending_action or row.rotation_step:
            raise ValueError("LiteLLM is being told something about this key; try again when it is done")
        KeyLimits.from_json(row.drift_limits).apply_to(row)
        row.drift_limits, row.drift_found_at = {}, None
        row.save(update_fields=[*ROW_FIELDS, "drift_limits", "drift_found_at", "updated_at"])
    return names
