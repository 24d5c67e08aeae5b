"""Telling LiteLLM about a key (run in a task on the server's network queue): claim the row's
pending action, carry it out, record the outcome, retry with the kit's backoff.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from integrations.http import VendorError
from integrations.litellm.client import (
    KeyNotFound,
    LiteLLMClient,
)
from integrations.litellm.key_calls import Fail, Retry, Waiting, generate_fields, recover, token_hash_of
from integrations.litellm.keys import key_metadata
from integrations.litellm.limits import LITELLM_TO_ROW, decimal_or_none
from integrations.litellm.models import (
    KeyAction,
    KeyStatus,
    VirtualKey,
)
from integrations.litellm.rotation import handle_rotate
from integrations.litellm.servers import client_for
from integrations.litellm.sync import key_apply_info
from portal.core.queues import network_queue_name
from portal.core.work import CLAIM_LEASE, Outcome, RetryPolicy, WorkResult, claim

log = logging.getLogger(__name__)

# 30 s after the first failure, doubling to at most an hour; a pending action still failing
# after 30 tries (about a day) is reported failed instead of retried forever.
RETRY = RetryPolicy(base_seconds=30, cap_seconds=3600, max_attempts=30)
WORK = "key_action"


@dataclass(frozen=True)
class ActionOutcome(WorkResult):
    """A key action's result: the kit's WorkResult, read by callers as `ok` (True done, None
    not finished and retried, False failed) and returned by the task as today's dict."""

    action: str = ""

    @classmethod
    def of(cls, key_id: int, action: str, ok: bool | None, detail: str) -> ActionOutcome:
        outcome = {True: Outcome.DONE, None: Outcome.RETRY, False: Outcome.FAILED}[ok]
        return cls(work=WORK, id=key_id, outcome=outcome, detail=detail, action=action)

    @property
    def key_id(self) -> int:
        return self.id

    @property
    def ok(self) -> bool | None:
        if self.outcome == Outcome.DONE:
            return True
        if self.outcome in (Outcome.RETRY, Outcome.BUSY, Outcome.IDLE):
            return None
        return False

    def as_result(self) -> dict[str, Any]:
        return {"key_id": self.id, "action": self.action, "ok": self.ok, "detail": self.detail}


def key_claim(*, key_id: int) -> VirtualKey | None:
    """Take the row's pending action for this worker for a lease, or None if not due / taken."""
    pending = VirtualKey.objects.filter(pk=key_id).exclude(pending_action="")
    if not claim(pending, field="next_attempt_at", lease=CLAIM_LEASE):
        return None
    return VirtualKey.objects.select_related("server").get(pk=key_id)


def key_apply_pending(*, key_id: int, client: LiteLLMClient | None = None) -> ActionOutcome:
    """Carry out the row's pending action against LiteLLM and record the outcome on the row."""
    key = key_claim(key_id=key_id)
    if key is None:
        return _not_claimed(key_id)
    action = key.pending_action
    own_client = client is None
    try:
        active = client or client_for(key.server)
    except ValueError as exc:
        return _record(key, action, ok=False, detail=str(exc))
    try:
        handler = _HANDLERS[action]
        detail = handler(key, active)
    except Retry as exc:
        return _record(key, action, ok=None, detail=exc.detail)
    except Waiting as exc:
        return _record_waiting(key, action, detail=exc.detail, until=exc.until)
    except Fail as exc:
        return _record(key, action, ok=False, detail=exc.detail)
    except VendorError as exc:
        return _record(key, action, ok=None if exc.retryable else False, detail=str(exc))
    finally:
        if own_client:
            active.close()
    return _record(key, action, ok=True, detail=detail)


def _not_claimed(key_id: int) -> ActionOutcome:
    row = VirtualKey.objects.filter(pk=key_id).first()
    if row is None:
        return ActionOutcome(work=WORK, id=key_id, outcome=Outcome.GONE, detail="no such key")
    if row.pending_action:
        # Another worker holds it (the beat job and an admin can both wake it up).
        return ActionOutcome(
            work=WORK,
            id=key_id,
            outcome=Outcome.BUSY,
            detail="in progress in another worker",
            action=row.pending_action,
        )
    # Nothing due: what the last attempt recorded.
    return ActionOutcome.of(
        key_id, row.last_action, row.last_action_ok, row.last_action_detail or "nothing due"
    )


def _record_waiting(
    key: VirtualKey, action: str, *, detail: str, until: datetime | None = None
) -> ActionOutcome:
    """Nothing is due until someone else acts (e.g. `rotation_handed_over`), or until `until`
    (a grace period's next turn, rotation.rotations_in_grace_due): the pending action is
    cleared, the outcome stays open (ok None) and says what it waits for."""
    key.last_action = action
    key.last_action_ok = None
    key.last_action_detail = detail[:2000]
    key.last_action_at = timezone.now()
    key.pending_action = ""
    key.pending_changes = {}
    key.next_attempt_at = until
    key.attempts = 0
    key.save()
    log.info("litellm key %s: %s -> waiting", key.pk, action)
    return ActionOutcome(work=WORK, id=key.pk, outcome=Outcome.IDLE, detail=detail, action=action)


def _record(key: VirtualKey, action: str, *, ok: bool | None, detail: str) -> ActionOutcome:
    now = timezone.now()
    key.last_action = action
    key.last_action_ok = ok
    key.last_action_detail = detail[:2000]
    key.last_action_at = now
    if ok is None and RETRY.exhausted(key.attempts + 1):
        ok = False
        detail = f"gave up after {RETRY.max_attempts} attempts: {detail}"
    if ok is None:
        key.attempts += 1
        key.next_attempt_at = RETRY.next_attempt_at(key.attempts)
    else:
        key.pending_action = ""
        key.pending_changes = {}
        key.next_attempt_at = None
        key.attempts = 0
        if ok is False and action == KeyAction.CREATE:
            key.status = KeyStatus.FAILED
            key.raw_key = None
        if ok is False and action == KeyAction.ROTATE and key.rotation_step in ("", "generate"):
            # The replacement never came to exist: the old key is untouched and still works.
            key.rotation_step = ""
            key.rotation_new_key = None
    key.save()
    log.info("litellm key %s: %s -> %s", key.pk, action, {True: "done", False: "failed", None: "retry"}[ok])
    return ActionOutcome.of(key.pk, action, ok, detail)


def _handle_create(key: VirtualKey, client: LiteLLMClient) -> str:
    raw = key.raw_key
    if raw is None or not key.token_hash:
        raise Fail("the raw key was lost before LiteLLM was told; create a new key")
    duration = key.pending_changes.get("duration") or None
    fields = generate_fields(
        key, alias=key.key_alias, duration=duration, spend=key.pending_changes.get("spend")
    )
    try:
        generated = client.key_generate(raw_key=raw.reveal(), fields=fields)
        info = generated.info
    except VendorError as exc:
        info = recover(client, key.token_hash, exc)
    if key.budget_duration and info.budget_reset_at is None:
        # /key/generate does not answer the reset date LiteLLM computed (GenerateKeyResponse):
        # read it back, so the key's page and /me/ say when the budget starts again at once.
        with contextlib.suppress(VendorError):
            info = client.key_find(token_hash=key.token_hash) or info
    key_apply_info(key, info)
    key.status = KeyStatus.ACTIVE
    return f"Created in LiteLLM as {key.key_name}"


def _handle_update(key: VirtualKey, client: LiteLLMClient) -> str:
    changes = dict(key.pending_changes)
    metadata = key_metadata(key)
    try:
        info = client.key_update(token_hash=token_hash_of(key), fields={**changes, "metadata": metadata})
    except KeyNotFound:
        key.status = KeyStatus.MISSING
        raise Fail("LiteLLM no longer has this key") from None
    # The limits sent are ours now; any other limit changed in LiteLLM stays drift.
    key_apply_info(key, info, told=[LITELLM_TO_ROW[name] for name in changes if name in LITELLM_TO_ROW])
    # /key/update does not echo soft_budget from the budget table: keep what LiteLLM accepted.
    if "soft_budget" in changes:
        key.soft_budget = decimal_or_none(changes["soft_budget"])
    return "Changed in LiteLLM: " + ", ".join(sorted(changes)) if changes else "Metadata refreshed in LiteLLM"


def _handle_block(key: VirtualKey, client: LiteLLMClient) -> str:
    return _set_blocked(key, client, block=True)


def _handle_unblock(key: VirtualKey, client: LiteLLMClient) -> str:
    return _set_blocked(key, client, block=False)


def _set_blocked(key: VirtualKey, client: LiteLLMClient, *, block: bool) -> str:
    call = client.key_block if block else client.key_unblock
    try:
        info = call(token_hash=token_hash_of(key))
    except KeyNotFound:
        key.status = KeyStatus.MISSING
        raise Fail("LiteLLM no longer has this key") from None
    key.blocked = info.blocked
    return "Blocked in LiteLLM" if block else "Unblocked in LiteLLM"


def _handle_delete(key: VirtualKey, client: LiteLLMClient) -> str:
    if key.rotation_old_hash:
        # A rotation waiting for its hand-over: the key it replaces still works too.
        with contextlib.suppress(KeyNotFound):
            client.key_delete(token_hashes=[key.rotation_old_hash])
        key.rotation_step = ""
        key.rotation_old_hash = ""
    try:
        client.key_delete(token_hashes=[token_hash_of(key)])
        detail = "Deleted in LiteLLM"
    except KeyNotFound:
        detail = "LiteLLM no longer had this key; marked deleted"
    key.status = KeyStatus.DELETED
    key.raw_key = None
    return detail


def _handle_refresh(key: VirtualKey, client: LiteLLMClient) -> str:
    found = client.key_find(token_hash=token_hash_of(key))
    if found is None:
        key.status = KeyStatus.MISSING
        raise Fail("LiteLLM no longer has this key")
    key_apply_info(key, found, told=())
    return f"Refreshed: spend {found.spend:g}" + (
        f" of {found.max_budget:g}" if found.max_budget is not None else ""
    )


_HANDLERS: dict[str, Callable[[VirtualKey, LiteLLMClient], str]] = {
    KeyAction.CREATE: _handle_create,
    KeyAction.UPDATE: _handle_update,
    KeyAction.BLOCK: _handle_block,
    KeyAction.UNBLOCK: _handle_unblock,
    KeyAction.DELETE: _handle_delete,
    KeyAction.REFRESH: _handle_refresh,
    KeyAction.ROTATE: handle_rotate,
}


def keys_due(*, now: datetime | None = None, limit: int = 500) -> list[tuple[int, str]]:
    """(key id, queue) of rows whose pending action is due: the beat job wakes their workers."""
    now = now or timezone.now()
    rows = (
        VirtualKey.objects.exclude(pending_action="")
        .filter(next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", "server__network")[:limit]
    )
    return [(pk, network_queue_name(network)) for pk, network in rows]
