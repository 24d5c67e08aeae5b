"""The old and the new key of a rotation while both work: one budget for the two.

Both keys work for a while after the swap: a staff key's grace period (the server's
`rotation_grace_minutes`), a person's hand-over (until LibreChat holds the new key). LiteLLM
checks each key's spend against that key's own max_budget
(proxy/auth/auth_checks.py `virtual_key_max_budget_check`), so giving the old key "its spend
plus what remains" would let each key spend all that remains: twice the rest of the budget.

Instead the two keys' max_budgets always share what remains:

    old_max + new_max == budget + counted

where `counted` is the old key's spend at the swap, which the new key starts at (its own
spend counts it once more). Whatever the two spend, old_spend + new_spend - counted (what the
pair really spent) stays within the budget, because each key stops at its own max_budget.
The split starts half and half and is moved towards the key in use at every turn of the
grace period (`grace_turn`, every GRACE_TURN by the beat); a limit is always lowered before
the other is raised, so no moment lets the pair past the budget.

At the end (`settle`) the old key is blocked (its spend is final), what it spent after the
swap is added to the new key's spend and the new key gets the whole budget back, marked in
its metadata so a retry after a lost answer does not add it twice. Then the rotation deletes
the old key as before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

from django.utils import timezone

from integrations.litellm.client import KeyInfo, KeyNotFound, LiteLLMClient
from integrations.litellm.key_calls import Fail, Waiting
from integrations.litellm.keys import key_metadata
from integrations.litellm.limits import decimal_or_none
from integrations.litellm.models import VirtualKey

SETTLE_STEP = "settle"
# How often the split is moved towards the key in use (the beat's interval, one minute).
GRACE_TURN = dt.timedelta(minutes=1)
# Metadata on the new key once the old key's spend was added to it: the old key's hash prefix.
SETTLED_MARKER = "portal_rotation_settled"
# Neither key is ever left with less than this share of what remains.
_MIN_SHARE = Decimal("0.1")
_HALF = Decimal("0.5")


def both_work(key: VirtualKey) -> bool:
    """Whether the old key keeps working after the swap (so the two share the budget)."""
    return key.handed_on or key.server.rotation_grace_minutes > 0


def pair_limits(
    *, budget: Decimal, counted: Decimal, old_spend: Decimal, new_spend: Decimal, old_share: Decimal
) -> tuple[Decimal, Decimal]:
    """(old_max, new_max): what remains of `budget` split, `old_share` (0..1) to the old key;
    old_max + new_max == budget + counted whenever the pair is within the budget."""
    spent = old_spend + new_spend - counted
    remaining = max(Decimal(0), budget - spent)
    old_part = (remaining * old_share).quantize(Decimal("0.000001"))
    return old_spend + old_part, new_spend + (remaining - old_part)


def starting_limits(key: VirtualKey, spend: float) -> tuple[float, float] | None:
    """(old_max, new_max) for the moment of the swap: the new key starts at the old key's
    spend, and the two split what remains. None when the key has no budget."""
    if key.max_budget is None:
        return None
    start = decimal_or_none(spend, places=6) or Decimal(0)
    old_max, new_max = pair_limits(
        budget=key.max_budget, counted=start, old_spend=start, new_spend=start, old_share=_HALF
    )
    return float(old_max), float(new_max)


def retire_at(key: VirtualKey) -> dt.datetime | None:
    """When the old key of a staff key's rotation goes (None: a person's key hands over)."""
    if key.handed_on:
        return None
    return timezone.now() + dt.timedelta(minutes=key.server.rotation_grace_minutes)


def grace_turn(key: VirtualKey, client: LiteLLMClient) -> None:
    """One turn of the grace period: past its end the rotation goes on (settle); before it,
    the split follows the use and the row waits for the next turn."""
    now = timezone.now()
    if key.rotation_retire_at is None or key.rotation_retire_at <= now:
        key.rotation_step = SETTLE_STEP
        key.save(update_fields=["rotation_step"])
        return
    _rebalance(key, client)
    until = min(now + GRACE_TURN, key.rotation_retire_at)
    raise Waiting(
        f"the old key {key.rotation_old_name or ''} keeps working until "
        f"{key.rotation_retire_at:%Y-%m-%d %H:%M} UTC; both share the budget".replace("  ", " "),
        until=until,
    )


def _rebalance(key: VirtualKey, client: LiteLLMClient) -> None:
    if key.max_budget is None:
        return
    old = client.key_find(token_hash=key.rotation_old_hash)
    new = client.key_find(token_hash=key.token_hash or "")
    if old is None or new is None:
        return  # one of them is gone: nothing to share (settle says what happened)
    counted = _counted(key, new)
    old_spend = Decimal(repr(old.spend))
    new_spend = Decimal(repr(new.spend))
    share = _old_share(old_spend - counted, new_spend - counted)
    old_max, new_max = pair_limits(
        budget=key.max_budget, counted=counted, old_spend=old_spend, new_spend=new_spend, old_share=share
    )
    moves = [(key.rotation_old_hash, old, old_max), (key.token_hash or "", new, new_max)]
    # Lower first, raise second: in between, the two limits sum to less, never more.
    moves.sort(key=lambda move: move[2] - Decimal(repr(move[1].max_budget or 0)))
    for token_hash, info, limit in moves:
        if info.max_budget is None or Decimal(repr(info.max_budget)).compare(limit) != 0:
            client.key_update(token_hash=token_hash, fields={"max_budget": float(limit)})


def _old_share(used_old: Decimal, used_new: Decimal) -> Decimal:
    """The old key's share of what remains: its part of the use since the swap, kept
    between 10 % and 90 % so the key that was quiet still works."""
    used_old, used_new = max(used_old, Decimal(0)), max(used_new, Decimal(0))
    if used_old + used_new == 0:
        return _HALF
    share = used_old / (used_old + used_new)
    return min(max(share, _MIN_SHARE), 1 - _MIN_SHARE)


def _counted(key: VirtualKey, new: KeyInfo) -> Decimal:
    """The old key's spend already on the new key; 0 once LiteLLM's reset job started a new
    window (both keys share the reset date, so both were zeroed: nothing is counted twice)."""
    recorded, now_at = key.budget_reset_at, new.budget_reset_at
    if recorded is not None and now_at is not None and now_at > recorded:
        key.budget_reset_at = now_at
        key.rotation_swap_spend = Decimal(0)
        key.save(update_fields=["budget_reset_at", "rotation_swap_spend"])
    return key.rotation_swap_spend or Decimal(0)


def settle(key: VirtualKey, client: LiteLLMClient) -> None:
    """The old key stops; what it spent after the swap moves onto the new key, which gets the
    whole budget back. Safe to repeat: the new key's metadata says it was done."""
    marker = key.rotation_old_hash[:16]
    with contextlib.suppress(KeyNotFound):  # gone already: nothing more can be spent on it
        client.key_block(token_hash=key.rotation_old_hash)
    old = client.key_find(token_hash=key.rotation_old_hash)
    new = client.key_find(token_hash=key.token_hash or "")
    if new is None:
        raise Fail("LiteLLM no longer has the new key; the old one was blocked")
    if new.metadata.get(SETTLED_MARKER) == marker:
        return
    counted = _counted(key, new)
    carried = max(Decimal(0), Decimal(repr(old.spend)) - counted) if old is not None else Decimal(0)
    fields: dict[str, object] = {
        "spend": float(Decimal(repr(new.spend)) + carried),
        "metadata": {**key_metadata(key), SETTLED_MARKER: marker},
    }
    if key.max_budget is not None:
        fields["max_budget"] = float(key.max_budget)
    info = client.key_update(token_hash=key.token_hash or "", fields=fields)
    key.spend = decimal_or_none(info.spend, places=6) or Decimal(0)
