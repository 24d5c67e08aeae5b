"""The rotation engine: every key (staff-made and a person's) is replaced the same way.

Rotating without /key/regenerate (enterprise only, contract §2.7), step by step so that a
failure anywhere leaves exactly one key the row can name, with the step reached recorded on
the row (`rotation_step`), so a killed worker's retry resumes where it stopped:

generate  the replacement, under the temporary alias `{alias}.rotating.{new_hash[:8]}`
          (aliases are unique, §1), with the same limits and the old key's spend in this
          budget window; where the old key keeps working after the swap, the two keys'
          max_budgets share what remains (rotation_pair)
swap      the row now names the replacement (the old hash kept in rotation_old_hash)
handover  only for a key the portal hands on itself (`handed_on`): the rotation stops, both
          keys work, until `rotation_handed_over` says the new one was handed on
grace     only for a staff key on a server with a grace period: both keys work until
          `rotation_retire_at`; the beat gives the rotation a turn every minute
          (`rotations_in_grace_due`), which moves the shared budget towards the key in use
settle    after a hand-over or a grace period: the old key is blocked and what it spent
          since the swap is added to the new key, which gets the whole budget back
delete    the old key (404 = already gone)
rename    the replacement takes the old alias

The budget period survives: LiteLLM computes the new key's reset date itself (it takes none),
and for the durations the portal accepts that is the old key's date (budget_windows); a key
still holding another duration is not rotated, with a sentence saying what to change.
"""

from __future__ import annotations

import contextlib
import logging
import re
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrations.http import VendorError
from integrations.litellm import rotation_pair
from integrations.litellm.budget_windows import rotation_refusal
from integrations.litellm.client import (
    KeyInfo,
    KeyNotFound,
    LiteLLMClient,
    abbreviate_key,
    generate_raw_key,
    hash_token,
)
from integrations.litellm.key_calls import (
    Fail,
    Waiting,
    expires_duration,
    generate_fields,
    recover,
    token_hash_of,
)
from integrations.litellm.keys import GRACE_STEP, HANDOVER_STEP, key_metadata, key_work_wake
from integrations.litellm.limits import decimal_or_none
from integrations.litellm.models import KeyAction, VirtualKey
from integrations.litellm.rotation_pair import SETTLE_STEP
from integrations.litellm.sync import key_apply_info
from portal.core.work import hand_out_due

log = logging.getLogger(__name__)

ROTATING_ALIAS_SUFFIX = ".rotating"
WAITING_FOR_HANDOVER = "waiting for the new key to be handed over"
_TEMPORARY_ALIAS = re.compile(rf"^(.*){re.escape(ROTATING_ALIAS_SUFFIX)}\.[0-9a-f]{{8}}$")


def keys_waiting_for_handover() -> QuerySet[VirtualKey]:
    """Rotated keys whose new value the portal must hand on before the old key goes."""
    return VirtualKey.objects.filter(rotation_step=HANDOVER_STEP)


def rotation_handed_over(*, key_id: int) -> VirtualKey:
    """The new key has been handed on: the rotation goes on (delete the old key, rename)."""
    with transaction.atomic():
        row = VirtualKey.objects.select_for_update().select_related("server").get(pk=key_id)
        if row.rotation_step != HANDOVER_STEP:
            raise ValueError(f"{row} is not waiting for a hand-over")
        # A rotation begun before the two keys shared a budget has nothing to settle.
        row.rotation_step = SETTLE_STEP if row.rotation_swap_spend is not None else "delete"
        row.pending_action = KeyAction.ROTATE
        row.pending_changes = {}
        row.next_attempt_at = timezone.now()
        row.attempts = 0
        row.save()
        key_work_wake(row)
    return row


def alias_before_rotation(alias: str) -> str:
    """The alias the key had before the rotation: a refresh during the hand-over copies
    LiteLLM's temporary alias onto the row, and the rename must restore the original."""
    match = _TEMPORARY_ALIAS.match(alias)
    return match.group(1) if match else alias


def keys_in_grace() -> QuerySet[VirtualKey]:
    """Rotations whose old key still works for a grace period, waiting for their next turn."""
    return VirtualKey.objects.filter(rotation_step=GRACE_STEP, pending_action="")


def rotations_in_grace_due(*, limit: int = 500) -> int:
    """Beat: every rotation in its grace period whose turn has come goes back to the key
    action queue (rebalance the shared budget; at the end settle, delete, rename)."""
    return hand_out_due(keys_in_grace(), wake=_grace_turn_due, limit=limit)


def _grace_turn_due(row: VirtualKey) -> None:
    # hand_out_due moved next_attempt_at one lease on (a lost message is handed out again);
    # the key action is due now, and the retry beat (keys_due) is the net under this wake-up.
    VirtualKey.objects.filter(pk=row.pk, pending_action="").update(
        pending_action=KeyAction.ROTATE, next_attempt_at=timezone.now(), attempts=0
    )
    key_work_wake(row)


def handle_rotate(key: VirtualKey, client: LiteLLMClient) -> str:
    """Carry the rotation on from the step the row records (see the module docstring)."""
    alias = alias_before_rotation(key.key_alias)
    if key.rotation_step == HANDOVER_STEP:
        raise Waiting(WAITING_FOR_HANDOVER)
    if key.rotation_step == "":
        refusal = rotation_refusal(key.budget_duration)
        if refusal:
            raise Fail(refusal)
    if key.rotation_step in ("", "generate"):
        _generate_and_swap(key, client, alias)
    if key.rotation_step == HANDOVER_STEP:
        raise Waiting(WAITING_FOR_HANDOVER)
    if key.rotation_step == GRACE_STEP:
        rotation_pair.grace_turn(key, client)  # raises Waiting until the grace period is over
    if key.rotation_step == SETTLE_STEP:
        rotation_pair.settle(key, client)
        key.rotation_step = "delete"
        key.save(update_fields=["rotation_step", "spend"])
    if key.rotation_step == "delete":
        with contextlib.suppress(KeyNotFound):  # deleted already (a retry after a lost answer)
            client.key_delete(token_hashes=[key.rotation_old_hash])
        key.rotation_step = "rename"
        key.save(update_fields=["rotation_step"])
    if key.rotation_step == "rename":
        if alias:
            info = client.key_update(
                token_hash=token_hash_of(key), fields={"key_alias": alias, "metadata": key_metadata(key)}
            )
            key_apply_info(key, info)
        key.rotation_step = ""
        key.rotation_old_hash = ""
        key.rotation_old_name = ""
        key.rotation_swap_spend = None
        key.rotation_retire_at = None
        key.rotated_at = timezone.now()
    return f"Rotated: the new key is {key.key_name}; the old one is deleted"


def _generate_and_swap(key: VirtualKey, client: LiteLLMClient, alias: str) -> None:
    """Steps generate and swap: the replacement exists in LiteLLM and the row names it."""
    if key.rotation_new_key is None or "spend" not in key.pending_changes:
        # The replacement starts at the old key's spend, else rotating refills the budget
        # (issue 11). Recorded with the new raw key before LiteLLM hears of either, so a
        # resumed rotation sends the same value: if the first POST was written, LiteLLM
        # keeps that one anyway (a key it already holds is not written again, §2.1).
        key.pending_changes = {**key.pending_changes, "spend": _window_spend(client, key)}
        if key.rotation_new_key is None:
            key.rotation_new_key = generate_raw_key()
        key.rotation_step = "generate"
        key.save(update_fields=["rotation_new_key", "rotation_step", "pending_changes"])
    new_raw = key.rotation_new_key
    assert new_raw is not None
    new_hash = hash_token(new_raw.reveal())
    temporary = f"{alias}{ROTATING_ALIAS_SUFFIX}.{new_hash[:8]}" if alias else None
    spend = key.pending_changes["spend"]
    fields = generate_fields(key, alias=temporary, duration=expires_duration(key.expires), spend=spend)
    shared = rotation_pair.both_work(key)
    limits = rotation_pair.starting_limits(key, spend) if shared else None
    if limits is not None:
        fields["max_budget"] = limits[1]  # the new key's part; nobody holds it before the swap
    info = _generate(client, new_raw.reveal(), new_hash, fields)
    if limits is not None:
        # Before the swap makes the new key usable: the old key keeps only its part. (Gone
        # already, deleted behind the portal's back: then it cannot spend anything either.)
        with contextlib.suppress(KeyNotFound):
            client.key_update(token_hash=token_hash_of(key), fields={"max_budget": limits[0]})
    if key.budget_duration and info.budget_reset_at is None:
        # /key/generate does not answer the reset date LiteLLM computed (GenerateKeyResponse).
        info = client.key_find(token_hash=new_hash) or info
    with transaction.atomic():
        key.rotation_old_hash = token_hash_of(key)
        key.rotation_old_name = key.key_name
        key.token_hash = new_hash
        key.raw_key = new_raw
        key.rotation_new_key = None
        key.key_name = abbreviate_key(new_raw.reveal())
        # A key the portal hands on is read by its holder only (no reveal in the admin).
        key.revealed_at = timezone.now() if key.handed_on else None
        key.spend = decimal_or_none(info.spend, places=6) or Decimal(0)
        key.budget_reset_at = info.budget_reset_at
        key.rotation_swap_spend = key.spend if shared else None
        key.rotation_retire_at = rotation_pair.retire_at(key) if shared else None
        # A key the portal hands on waits for its hand-over, a staff key for its grace period.
        key.rotation_step = (HANDOVER_STEP if key.handed_on else GRACE_STEP) if shared else "delete"
        key.litellm_created_at = info.created_at
        key.save()


def _generate(client: LiteLLMClient, raw: str, token_hash: str, fields: dict[str, object]) -> KeyInfo:
    try:
        return client.key_generate(raw_key=raw, fields=fields).info
    except VendorError as exc:
        return recover(client, token_hash, exc)


def _window_spend(client: LiteLLMClient, key: VirtualKey) -> float:
    """What LiteLLM counts on the key now, in its current budget window (the row's copy lags
    up to one sync behind). A window that has ended counts nothing: LiteLLM's reset job
    (proxy/common_utils/reset_budget_job.py, every few minutes) zeroes it soon, and the new
    key, made after the reset date, starts the next window."""
    found = client.key_find(token_hash=token_hash_of(key))
    if found is None:
        return float(key.spend)
    ended = found.budget_reset_at is not None and found.budget_reset_at <= timezone.now()
    return 0.0 if found.budget_duration and ended else found.spend
