"""Virtual keys: rows and intent, no vendor calls.

Each function writes what LiteLLM must be told on the row (`pending_action`) and wakes the
task `litellm.key_apply_pending` by name after commit (key_work carries it out), so the
database stays the source of truth for work in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.litellm.client import (
    abbreviate_key,
    generate_raw_key,
    hash_token,
)
from integrations.litellm.limits import LITELLM_FIELDS, KeyLimits, decimal_or_none
from integrations.litellm.models import (
    KeyAction,
    KeyOrigin,
    KeyPlan,
    KeyStatus,
    LiteLLMServer,
    VirtualKey,
)
from integrations.litellm.servers import server_queue
from portal.core.queues import wake_after_commit

log = logging.getLogger(__name__)


# /key/update replaces metadata wholesale (contract §2.2): this marker is sent in full with
# every create and update, so an edit never drops it.
MANAGED_BY = "portal"
# The rotation step at which a handed-on key waits (integrations.litellm.rotation).
HANDOVER_STEP = "handover"
# The rotation step at which a staff key's old key keeps working for the grace period.
GRACE_STEP = "grace"


def key_create(
    *,
    server: LiteLLMServer,
    alias: str,
    owner: str = "",
    plan: KeyPlan | None = None,
    limits: KeyLimits | None = None,
    metadata: Mapping[str, Any] | None = None,
    keep_secret: bool = False,
    spend: float | None = None,
    hand_over: bool = False,
    reveal_to: Any = None,
    enqueue: bool = True,
) -> VirtualKey:
    """Record a new key and generate its raw value here (stored encrypted until revealed).

    LiteLLM is told by the task `litellm.key_apply_pending` on the server's network queue;
    with enqueue=False the caller dispatches it itself (the admin waits a few seconds).
    `spend` is what the key starts at: a replacement carries the spend of the key it replaces.
    `reveal_to`: the one user who may see the raw key once (the staff member creating it).
    `hand_over`: the portal hands the key on itself (keep_secret); its rotations wait at
    "handover" until `rotation.rotation_handed_over` says the new key has been handed on.
    """
    if limits is None:
        limits = KeyLimits.from_plan(plan) if plan else KeyLimits()
    raw = generate_raw_key()
    # Sent with every attempt of the create (a retry sends the same key and the same spend).
    changes: dict[str, Any] = {"duration": limits.duration} if limits.duration else {}
    if spend is not None:
        changes["spend"] = spend
    key = VirtualKey(
        server=server,
        key_alias=alias,
        owner=owner,
        plan=plan,
        **limits.row_values(),
        metadata=dict(metadata or {}),
        token_hash=hash_token(raw),
        key_name=abbreviate_key(raw),
        keep_secret=keep_secret,
        handed_on=hand_over,
        reveal_to=reveal_to,
        origin=KeyOrigin.PORTAL,
        status=KeyStatus.CREATING,
        pending_action=KeyAction.CREATE,
        pending_changes=changes,
        spend=decimal_or_none(spend, places=6) or Decimal(0),
        next_attempt_at=timezone.now(),
    )
    key.raw_key = raw
    with transaction.atomic():
        key.save()
        if enqueue:
            key_work_wake(key)
    return key


def key_request(
    *, key: VirtualKey, action: str, changes: Mapping[str, Any] | None = None, enqueue: bool = True
) -> VirtualKey:
    """Record that LiteLLM must be told `action` for this key, and wake a worker."""
    if action not in KeyAction.values or action in ("", KeyAction.CREATE):
        raise ValueError(f"unknown key action {action!r}")
    with transaction.atomic():
        # The row as it is now, not as the caller last read it (a worker may have moved on).
        row = VirtualKey.objects.select_for_update().get(pk=key.pk)
        if row.status == KeyStatus.DELETED and action != KeyAction.REFRESH:
            raise ValueError(f"{key} is deleted")
        if row.status in (KeyStatus.CREATING, KeyStatus.FAILED):
            raise ValueError(f"{key} does not exist in LiteLLM yet ({row.get_status_display()})")
        if row.pending_action and row.pending_action != action:
            raise ValueError(f"{key} is still busy: {row.get_pending_action_display()} pending")
        if row.rotation_step == HANDOVER_STEP and action not in (KeyAction.DELETE, KeyAction.REFRESH):
            # Both keys work until the new one is handed on: a block or a change would reach one.
            raise ValueError(f"{key} is being rotated: waiting for the new key to be handed over")
        if row.rotation_step == GRACE_STEP and action != KeyAction.DELETE:
            # Both keys work and share the budget; the grace period's turns are the only writes.
            until = f"{row.rotation_retire_at:%Y-%m-%d %H:%M} UTC" if row.rotation_retire_at else "soon"
            raise ValueError(f"{key} is being rotated: the old key keeps working until {until}")
        row.pending_action = action
        row.pending_changes = dict(changes or {}) if action == KeyAction.UPDATE else {}
        row.next_attempt_at = timezone.now()
        row.attempts = 0
        row.save(
            update_fields=["pending_action", "pending_changes", "next_attempt_at", "attempts", "updated_at"]
        )
        for name in ("pending_action", "pending_changes", "next_attempt_at", "attempts", "status"):
            setattr(key, name, getattr(row, name))
        if enqueue:
            key_work_wake(row)
    return key


# What staff read when they give up on work LiteLLM never answered (a dead server).
CANCELLED_CREATE = (
    "removed from the portal before LiteLLM confirmed it. If LiteLLM did create it, the next "
    "sync of the server finds it and lists it as found in LiteLLM, to delete there"
)
CANCELLED_ACTION = (
    "cancelled before LiteLLM confirmed it; LiteLLM may have applied it: the next sync of the "
    "server shows the key as LiteLLM holds it"
)


def key_cancel_pending(*, key: VirtualKey) -> str:
    """Give up on the key's pending work (its server never answers). A key still being
    created is removed from the portal (its raw value with it); any other pending action is
    dropped and recorded as cancelled. Returns what was done, in words; ValueError when
    there is nothing to cancel, or a rotation went too far to be taken back."""
    with transaction.atomic():
        row = VirtualKey.objects.select_for_update().filter(pk=key.pk).first()
        if row is None:
            raise ValueError(f"{key} no longer exists")
        if row.status in (KeyStatus.CREATING, KeyStatus.FAILED):  # never (known to be) in LiteLLM
            row.delete()
            return f"{key}: {CANCELLED_CREATE}"
        if not row.pending_action:
            raise ValueError(f"{key} has no pending work to cancel")
        if row.pending_action == KeyAction.ROTATE and row.rotation_step not in ("", "generate"):
            # Past "generate" the new key exists in LiteLLM and may be handed on already.
            raise ValueError(
                f"{key} is mid-rotation (step {row.rotation_step}): let it finish, or delete the key"
            )
        action = row.pending_action
        row.last_action, row.last_action_ok = action, False
        row.last_action_detail, row.last_action_at = CANCELLED_ACTION, timezone.now()
        row.pending_action, row.pending_changes = "", {}
        row.next_attempt_at, row.attempts = None, 0
        if action == KeyAction.ROTATE:
            row.rotation_step, row.rotation_new_key = "", None
        row.save()
    return f"{key}: {action} {CANCELLED_ACTION}"


def key_block(*, key: VirtualKey, enqueue: bool = True) -> VirtualKey:
    return key_request(key=key, action=KeyAction.BLOCK, enqueue=enqueue)


def key_unblock(*, key: VirtualKey, enqueue: bool = True) -> VirtualKey:
    return key_request(key=key, action=KeyAction.UNBLOCK, enqueue=enqueue)


def key_delete(*, key: VirtualKey, enqueue: bool = True) -> VirtualKey:
    return key_request(key=key, action=KeyAction.DELETE, enqueue=enqueue)


def key_rotate(*, key: VirtualKey, enqueue: bool = True) -> VirtualKey:
    return key_request(key=key, action=KeyAction.ROTATE, enqueue=enqueue)


def key_refresh(*, key: VirtualKey, enqueue: bool = True) -> VirtualKey:
    return key_request(key=key, action=KeyAction.REFRESH, enqueue=enqueue)


def key_update_limits(*, key: VirtualKey, changes: Mapping[str, Any], enqueue: bool = True) -> VirtualKey:
    """Change a key: LiteLLM first; the row takes the new values only once LiteLLM accepted.

    `changes` uses LiteLLM's field names (key_alias, models, max_budget, budget_duration,
    soft_budget, tpm_limit, rpm_limit, max_parallel_requests, duration, user_id)."""
    allowed = set(_UPDATABLE)
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    return key_request(key=key, action=KeyAction.UPDATE, changes=_jsonable(changes), enqueue=enqueue)


# What /key/update may change: the limits, the alias, the owner and the lifetime.
_UPDATABLE = ("key_alias", *LITELLM_FIELDS, "duration", "user_id")


def _jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, Decimal):
            value = float(value)
        if value == "" and name in ("budget_duration", "key_alias", "user_id"):
            value = None
        out[name] = value
    return out


def key_work_wake(key: VirtualKey) -> None:
    """After commit, wake a worker on the key's network queue for its pending action."""
    # By the task's name: key_work (which the task calls) imports this module, not the reverse.
    wake_after_commit("litellm.key_apply_pending", kwargs={"key_id": key.pk}, queue=server_queue(key.server))


def key_reveal(*, key: VirtualKey) -> str | None:
    """The raw key, once. Afterwards it is dropped from the row unless it must be kept to be
    handed on later (keep_secret). Returns None when there is nothing (more) to reveal."""
    with transaction.atomic():
        row = VirtualKey.objects.select_for_update().get(pk=key.pk)
        if row.revealed_at is not None or row.raw_key is None or row.status != KeyStatus.ACTIVE:
            return None
        if row.pending_action in (KeyAction.CREATE, KeyAction.ROTATE) or row.rotation_step:
            return None
        raw = row.raw_key.reveal()
        row.revealed_at = timezone.now()
        fields = ["revealed_at", "updated_at"]
        if not row.keep_secret:
            row.raw_key = None
            fields.append("raw_key")
        row.save(update_fields=fields)
    return raw


def key_reveal_to(*, key_id: int, user: Any) -> None:
    """The next reveal of the key (after a rotation) belongs to `user` alone."""
    VirtualKey.objects.filter(pk=key_id).update(reveal_to=user)


def key_withhold_reveal(*, key_id: int) -> dt.datetime:
    """A key the portal hands on itself (a person's key, pushed into LibreChat) is never shown
    in the admin: mark its one reveal as spent. Returns the time recorded."""
    now = timezone.now()
    VirtualKey.objects.filter(pk=key_id, revealed_at__isnull=True).update(revealed_at=now)
    return now


def keys_forget_secrets(*, key_ids: Iterable[int]) -> int:
    """Drop the stored raw keys: only their hashes are needed from now on (e.g. to delete them)."""
    return VirtualKey.objects.filter(pk__in=list(key_ids)).update(raw_key=None, keep_secret=False)


def key_revealable(key: VirtualKey) -> bool:
    if not (
        key.status == KeyStatus.ACTIVE
        and key.revealed_at is None
        and key.pending_action not in (KeyAction.CREATE, KeyAction.ROTATE)
        and not key.rotation_step
    ):
        return False
    if "raw_key" in key.__dict__:
        return key.__dict__["raw_key"] is not None
    # Deferred (the admin never loads secrets it does not show): ask without decrypting.
    return VirtualKey.objects.filter(pk=key.pk, raw_key__isnull=False).exists()


def key_metadata(key: VirtualKey) -> dict[str, Any]:
    """The full metadata to send: what LiteLLM holds plus the portal's marker (§2.2: wholesale)."""
    return {
        **(key.metadata or {}),
        "managed_by": MANAGED_BY,
        "portal_key_id": key.pk,
        "portal_owner": key.owner,
        "portal_plan": key.plan.name if key.plan_id and key.plan else None,
    }
