"""The rotation engine: every key (staff-made and a person's) is replaced the same way.

Rotating without /key/regenerate (enterprise only, contract §2.7), step by step so that a
failure anywhere leaves exactly one key the row can name, with the step reached recorded on
the row (`rotation_step`), so a killed worker's retry resumes where it stopped:

generate  the replacement, under the temporary alias `{alias}.rotating.{new_hash[:8]}`
          (aliases are unique, §1), with the same limits and the old key's spend
swap      the row now names the replacement (the old hash kept in rotation_old_hash)
handover  only for a key the portal hands on itself (`handed_on`): the rotation stops, both
          keys work, until `rotation_handed_over` says the new one was handed on
delete    the old key (404 = already gone)
rename    the replacement takes the old alias
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
from integrations.litellm.client import (
    KeyNotFound,
    LiteLLMClient,
    abbreviate_key,
    generate_raw_key,
    hash_token,
)
from integrations.litellm.key_calls import Waiting, expires_duration, generate_fields, recover, token_hash_of
from integrations.litellm.keys import HANDOVER_STEP, key_metadata, key_work_wake
from integrations.litellm.limits import decimal_or_none
from integrations.litellm.models import KeyAction, VirtualKey
from integrations.litellm.sync import key_apply_info

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
        row.rotation_step = "delete"
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


def handle_rotate(key: VirtualKey, client: LiteLLMClient) -> str:
    """Carry the rotation on from the step the row records (see the module docstring)."""
    alias = alias_before_rotation(key.key_alias)
    if key.rotation_step == HANDOVER_STEP:
        raise Waiting(WAITING_FOR_HANDOVER)
    if key.rotation_step in ("", "generate"):
        _generate_and_swap(key, client, alias)
    if key.rotation_step == HANDOVER_STEP:
        raise Waiting(WAITING_FOR_HANDOVER)
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
        key.rotated_at = timezone.now()
    return f"Rotated: the new key is {key.key_name}; the old one is deleted"


def _generate_and_swap(key: VirtualKey, client: LiteLLMClient, alias: str) -> None:
    """Steps generate and swap: the replacement exists in LiteLLM and the row names it."""
    if key.rotation_new_key is None or "spend" not in key.pending_changes:
        # The replacement starts at the old key's spend, else rotating refills the budget
        # (issue 11). Recorded with the new raw key before LiteLLM hears of either, so a
        # resumed rotation sends the same value: if the first POST was written, LiteLLM
        # keeps that one anyway (a key it already holds is not written again, §2.1).
        key.pending_changes = {**key.pending_changes, "spend": _spend_now(client, key)}
        if key.rotation_new_key is None:
            key.rotation_new_key = generate_raw_key()
        key.rotation_step = "generate"
        key.save(update_fields=["rotation_new_key", "rotation_step", "pending_changes"])
    new_raw = key.rotation_new_key
    assert new_raw is not None
    new_hash = hash_token(new_raw.reveal())
    temporary = f"{alias}{ROTATING_ALIAS_SUFFIX}.{new_hash[:8]}" if alias else None
    fields = generate_fields(
        key,
        alias=temporary,
        duration=expires_duration(key.expires),
        spend=key.pending_changes["spend"],
    )
    try:
        generated = client.key_generate(raw_key=new_raw.reveal(), fields=fields)
        info = generated.info
    except VendorError as exc:
        info = recover(client, new_hash, exc)
    with transaction.atomic():
        key.rotation_old_hash = token_hash_of(key)
        key.token_hash = new_hash
        key.raw_key = new_raw
        key.rotation_new_key = None
        key.key_name = abbreviate_key(new_raw.reveal())
        # A key the portal hands on is read by its holder only (no reveal in the admin).
        key.revealed_at = timezone.now() if key.handed_on else None
        key.spend = decimal_or_none(info.spend, places=6) or Decimal(0)
        # A key the portal hands on waits here: the row names the new key, the old one works.
        key.rotation_step = HANDOVER_STEP if key.handed_on else "delete"
        key.litellm_created_at = info.created_at
        key.save()


def _spend_now(client: LiteLLMClient, key: VirtualKey) -> float:
    """What LiteLLM counts on the key now: the row's copy lags up to one sync behind."""
    found = client.key_find(token_hash=token_hash_of(key))
    return found.spend if found is not None else float(key.spend)
