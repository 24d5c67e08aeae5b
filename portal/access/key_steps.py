"""A person's key, the worker side: one LiteLLM virtual key, pushed into their LibreChat account.

The work is a chain of steps recorded on `PersonalKey.step` (models.PersonalKeyStep). A task
runs one step on the network queue of the server that step talks to, records the outcome and
hands the next step to its queue. A step that is done is never repeated: the key made in
LiteLLM is named on the row in the same transaction that records it, so a retry of "issue"
after a lost answer finds the key by its hash instead of making a second one.

Issue:    issue -> push -> verify_chat -> verify_key
Rotation: rotate_issue (new key, temporary alias) -> rotate_push -> rotate_verify_chat ->
          rotate_verify_key -> rotate_delete_old -> rotate_rename (stable alias again).
          LiteLLM's own /key/regenerate is enterprise-only (contract §2.7). The old key keeps
          working until LibreChat holds the new one, so the person is never without a key.
Desired state (suspended, limits_applied, rotation_requested_at) is written by the web side;
when a chain ends, `_next_step` compares it with the key and starts what is missing.

LiteLLM calls go through integrations.litellm.keys and key_work (key_create, key_apply_pending, ...);
LibreChat calls through integrations.librechat.user_keys (as the person).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.http import VendorError
from integrations.librechat import gate as librechat_gate
from integrations.librechat import sessions as librechat_sessions
from integrations.litellm import key_records, key_work, keys, limits, rotation
from integrations.litellm.models import KeyAction, KeyPlan, KeyStatus, VirtualKey
from portal.access.chat_steps import (
    step_push,
    step_rotate_push,
    step_rotate_verify_chat,
    step_verify_chat,
)
from portal.access.models import PersonalKey, PersonalKeyStatus
from portal.access.personal_keys import (
    FIRST_ISSUE_STEPS,
    PERSON_MARKER,
    PLAN_FIELDS,
    ROTATE_BEFORE_EXPIRY,
    Step,
    StepFailed,
    StepRetry,
    _next_step,
    personal_key_enqueue,
    stable_alias,
)
from portal.core import mail
from portal.core.work import ENQUEUE_LEASE, Outcome, RetryPolicy, WorkResult, claim

log = logging.getLogger(__name__)

# Steps are tried again from 15 s, doubling to 30 minutes; the 30th failure tells staff.
STEP_RETRY = RetryPolicy(base_seconds=15, cap_seconds=30 * 60, max_attempts=30)


def _result(record_id: int, step: str, outcome: str, detail: str = "", next_step: str = "") -> WorkResult:
    return WorkResult("personal_key", record_id, Outcome(outcome), detail, step=step, next_step=next_step)


def _claim(record_id: int) -> bool:
    return claim(PersonalKey.objects.filter(pk=record_id).exclude(step=""), field="claimed_until")


def personal_key_advance(*, record_id: int, step: str | None = None) -> WorkResult:
    """Run the record's current step (in a task on that step's network queue) and record it."""
    if not _claim(record_id):
        row = PersonalKey.objects.filter(pk=record_id).values_list("step", flat=True).first()
        if row is None:
            return _result(record_id, step or "", "gone")
        return _result(record_id, row, "busy" if row else "idle")
    record = PersonalKey.objects.select_related(
        "pairing__litellm_server", "pairing__librechat_server", "person", "plan", "key"
    ).get(pk=record_id)
    current = record.step
    if step is not None and step != current:
        # A stale message (the step moved on): hand the current step to its own queue.
        PersonalKey.objects.filter(pk=record_id).update(claimed_until=None)
        with transaction.atomic():
            personal_key_enqueue(record)
        return _result(record_id, step, "moved", next_step=current)
    handler = _HANDLERS[current]
    try:
        following = handler(record)
    except StepRetry as exc:
        return _record_retry(record, current, str(exc), at=exc.at, back_to=exc.back_to)
    except StepFailed as exc:
        return _record_failed(record, current, str(exc))
    except librechat_gate.GateClosed as exc:
        return _record_retry(record, current, f"LibreChat's login limit is reached: {exc}", at=exc.until)
    except librechat_sessions.AccountNotReady as exc:
        return _record_retry(record, current, str(exc))
    except VendorError as exc:
        if exc.retryable:
            return _record_retry(record, current, str(exc))
        return _record_failed(record, current, str(exc))
    except Exception as exc:  # a bug or a database hiccup: the row says so and the beat retries
        log.exception("personal key %s: %s failed unexpectedly", record_id, current)
        return _record_retry(record, current, f"unexpected error: {type(exc).__name__}: {exc}")
    return _record_done(record, current, following)


_ENGINE_FIELDS = [
    "step",
    "status",
    "attempts",
    "next_attempt_at",
    "claimed_until",
    "last_error",
    "key",
    "pushed_at",
    "verified_at",
    "chat_expires_at",
    "rotated_at",
    "rotation_due_at",
    "updated_at",
]


def _save(record: PersonalKey) -> bool:
    """Write the engine's fields; False when the person (and so the row) was deleted meanwhile."""
    values = {name: getattr(record, name) for name in _ENGINE_FIELDS if name != "key"}
    values["key_id"] = record.key_id
    values["updated_at"] = timezone.now()
    return bool(PersonalKey.objects.filter(pk=record.pk).update(**values))


def _record_done(record: PersonalKey, step: str, following: str | None) -> WorkResult:
    with transaction.atomic():
        # Lock the row before reading the desired state: a "suspend" or "rotate now" written
        # meanwhile either waits for this commit (and then finds the row idle and starts its
        # step) or is seen here. Without the lock it could slip between the read and the write.
        PersonalKey.objects.select_for_update().filter(pk=record.pk).values_list("pk", flat=True).first()
        record.step = following if following is not None else _next_step(record)
        record.attempts = 0
        record.last_error = ""
        record.claimed_until = None
        if record.step in FIRST_ISSUE_STEPS:
            record.status = PersonalKeyStatus.WORKING
        else:
            record.status = PersonalKeyStatus.READY
        record.next_attempt_at = timezone.now() + ENQUEUE_LEASE if record.step else None
        if not _save(record):
            return _result(record.pk, step, "gone")
        personal_key_enqueue(record)
    log.info("personal key %s: %s done, next %s", record.pk, step, record.step or "nothing")
    return _result(record.pk, step, "done", next_step=record.step)


def _record_retry(
    record: PersonalKey, step: str, detail: str, *, at: dt.datetime | None = None, back_to: str | None = None
) -> WorkResult:
    record.attempts += 1
    if STEP_RETRY.exhausted(record.attempts):
        return _record_failed(record, step, f"gave up after {STEP_RETRY.max_attempts} attempts: {detail}")
    if back_to:
        record.step = back_to
    record.last_error = f"{Step(step).label}: {detail}"[:2000]
    record.next_attempt_at = max(at, timezone.now()) if at else STEP_RETRY.next_attempt_at(record.attempts)
    record.claimed_until = None
    _save(record)
    log.info("personal key %s: %s will be retried: %s", record.pk, step, detail)
    return _result(record.pk, step, "retry", detail, next_step=record.step)


def _record_failed(record: PersonalKey, step: str, detail: str) -> WorkResult:
    newly = record.status != PersonalKeyStatus.NEEDS_ATTENTION
    record.status = PersonalKeyStatus.NEEDS_ATTENTION
    record.last_error = f"{Step(step).label}: {detail}"[:2000]
    record.next_attempt_at = None
    record.claimed_until = None
    _save(record)
    log.warning("personal key %s needs attention: %s", record.pk, record.last_error)
    if newly:
        _mail_staff_attention(record)
    return _result(record.pk, step, "failed", detail, next_step=record.step)


def _mail_staff_attention(record: PersonalKey) -> None:
    """Staff hear once per problem; the row keeps the detail and the admin's "retry now"."""
    mail.personal_key_needs_attention(
        email=record.person.email, record_id=record.pk, problem=record.last_error
    )


# --- LiteLLM steps (through integrations.litellm.keys and key_work) --------------------------


def _apply(key: VirtualKey) -> VirtualKey:
    """Tell LiteLLM the key's pending action now, in this task, and read the row back."""
    if key.pending_action:
        key_work.key_apply_pending(key_id=key.pk)
        key.refresh_from_db()
    if key.pending_action:
        # Not done: LiteLLM is down or another worker holds the action (the key's own beat
        # retries it too); come back when the key's next attempt is due.
        raise StepRetry(
            key.last_action_detail or f"LiteLLM has not confirmed '{key.pending_action}' yet",
            at=key.next_attempt_at,
        )
    return key


def _request(key: VirtualKey, action: Callable[..., VirtualKey], **kwargs: Any) -> None:
    try:
        action(key=key, enqueue=False, **kwargs)
    except ValueError as exc:  # another action is pending on the key: it goes first
        raise StepRetry(str(exc), at=key.next_attempt_at) from None


def _key_metadata(record: PersonalKey) -> dict[str, Any]:
    return {PERSON_MARKER: record.person_id, "portal_person_email": record.person.email}


def _issue(
    record: PersonalKey, *, field: str, alias: str, spend: Callable[[], float] | None = None
) -> VirtualKey:
    """Make the key once: the row is named on the record in the same transaction, with the
    spend it starts at (`spend()`, asked only then), so a resumed step sends the same."""
    key: VirtualKey | None = getattr(record, field)
    if key is None:
        starting_spend = spend() if spend is not None else None
        with transaction.atomic():
            key = keys.key_create(
                server=record.pairing.litellm_server,
                alias=alias,
                owner=record.person.email,
                plan=record.plan,
                metadata=_key_metadata(record),
                keep_secret=True,  # it is handed on to LibreChat (and again after a repair)
                hand_over=True,  # so a rotation waits until LibreChat holds the new key
                spend=starting_spend,
                enqueue=False,
            )
            # LibreChat is the only reader of a person's key: no "reveal once" in the admin.
            key.revealed_at = keys.key_withhold_reveal(key_id=key.pk)
            setattr(record, field, key)
            PersonalKey.objects.filter(pk=record.pk).update(**{f"{field}_id": key.pk})
    if key.status == KeyStatus.CREATING or key.pending_action == KeyAction.CREATE:
        key = _apply(key)
    if key.status != KeyStatus.ACTIVE:
        detail = key.last_action_detail or f"the key is {key.get_status_display()}"
        # It never came to exist: the next attempt (staff's retry) makes a new one.
        setattr(record, field, None)
        PersonalKey.objects.filter(pk=record.pk).update(**{f"{field}_id": None})
        raise StepFailed(f"LiteLLM did not make the key: {detail}")
    return key


def _step_issue(record: PersonalKey) -> str:
    _issue(record, field="key", alias=stable_alias(record.person_id))
    return Step.PUSH


def _step_rotate_issue(record: PersonalKey) -> str:
    """The one rotation engine (integrations.litellm.rotation) makes the new key under its
    temporary alias, starting at the old key's spend, and waits: the row names the new key,
    the old one keeps working until LibreChat holds the new one."""
    key = _key(record)
    if key.rotation_step != keys.HANDOVER_STEP:
        if not key.pending_action:
            _request(key, keys.key_rotate)
        key = _apply(key)
    if key.rotation_step != keys.HANDOVER_STEP:
        raise StepFailed(f"LiteLLM did not make the new key: {key.last_action_detail or 'no answer'}")
    return Step.ROTATE_PUSH


def _key(record: PersonalKey) -> VirtualKey:
    if record.key is None:
        raise StepFailed("there is no key")
    record.key.refresh_from_db()
    return record.key


def _refreshed(key: VirtualKey | None) -> VirtualKey:
    """The key as LiteLLM holds it now (spend included: the row's copy lags a sync)."""
    if key is None:
        raise StepFailed("no key to verify")
    if not key.pending_action:
        _request(key, keys.key_refresh)
    return _apply(key)


def _verify_key(key: VirtualKey | None) -> None:
    key = _refreshed(key)
    if key.status != KeyStatus.ACTIVE:
        raise StepFailed(f"LiteLLM does not have the key active ({key.get_status_display()})")
    if key.expires is not None and key.expires <= timezone.now():
        raise StepFailed(f"the key expired on {key.expires:%Y-%m-%d %H:%M} UTC")


def _step_verify_key(record: PersonalKey) -> str | None:
    _verify_key(record.key)
    record.verified_at = timezone.now()
    if record.rotation_due_at is None:
        expires = record.key.expires if record.key else None
        record.rotation_due_at = _rotation_due(record.plan, record.verified_at, expires)
    return None  # the chain is done: whatever the desired state still asks for


def _step_rotate_verify_key(record: PersonalKey) -> str:
    _verify_key(record.key)  # the new key: the row names it since the engine's swap
    record.verified_at = timezone.now()
    return Step.ROTATE_DELETE_OLD


def _step_rotate_delete_old(record: PersonalKey) -> str:
    """LibreChat holds the new key: the engine deletes the old one and renames the new one."""
    key = _key(record)
    if key.rotation_step == keys.HANDOVER_STEP:
        key = rotation.rotation_handed_over(key_id=key.pk)
    if key.rotation_step:
        key = _apply(key)
    if key.rotation_step:
        raise StepRetry(key.last_action_detail or "LiteLLM has not deleted the old key yet")
    return Step.ROTATE_RENAME


def _step_rotate_rename(record: PersonalKey) -> str | None:
    key = record.key
    if key is None:
        raise StepFailed("no key to rename")
    alias = stable_alias(record.person_id)
    if key.key_alias != alias:
        if not key.pending_action:
            _request(key, keys.key_update_limits, changes={"key_alias": alias})
        key = _apply(key)
        if key.key_alias != alias:
            raise StepFailed(f"LiteLLM kept the alias {key.key_alias!r}: {key.last_action_detail}")
    now = timezone.now()
    record.rotated_at = now
    record.rotation_due_at = _rotation_due(record.plan, now, key.expires)
    # Only the request this rotation answered: a newer "rotate now" still counts.
    PersonalKey.objects.filter(pk=record.pk, rotation_requested_at__lte=now).update(
        rotation_requested_at=None
    )
    return None


def _rotation_due(plan: KeyPlan, since: dt.datetime, expires: dt.datetime | None) -> dt.datetime | None:
    """The plan's rotation period, and in any case a while before the key expires, so the
    person never holds an expired key."""
    due = since + dt.timedelta(days=plan.rotation_days) if plan.rotation_days else None
    if expires is not None:
        before_expiry = max(since, expires - ROTATE_BEFORE_EXPIRY)
        due = min(due, before_expiry) if due is not None else before_expiry
    return due


def _step_block(record: PersonalKey) -> str | None:
    return _set_blocked(record, blocked=True)


def _step_unblock(record: PersonalKey) -> str | None:
    return _set_blocked(record, blocked=False)


def _set_blocked(record: PersonalKey, *, blocked: bool) -> str | None:
    key = record.key
    if key is None:
        return None
    if key.blocked != blocked or key.pending_action in (KeyAction.BLOCK, KeyAction.UNBLOCK):
        if not key.pending_action:
            _request(key, keys.key_block if blocked else keys.key_unblock)
        key = _apply(key)
        if key.blocked != blocked:
            raise StepRetry(key.last_action_detail or "LiteLLM has not changed the key yet")
    return None


def _step_update_limits(record: PersonalKey) -> str | None:
    key = record.key
    if key is None:
        return Step.ISSUE
    plan = KeyPlan.objects.get(
        pk=PersonalKey.objects.filter(pk=record.pk).values_list("plan_id", flat=True)[0]
    )
    settings = limits.KeyLimits.from_plan(plan)
    changes: dict[str, Any] = {
        "models": list(settings.allowed_models),
        "max_budget": settings.max_budget,
        "budget_duration": settings.budget_duration,
        "soft_budget": settings.soft_budget,
        "tpm_limit": settings.tpm_limit,
        "rpm_limit": settings.rpm_limit,
    }
    if key.pending_action == "":
        _request(key, keys.key_update_limits, changes={k: changes[k] for k in PLAN_FIELDS})
    key = _apply(key)
    if key.last_action != KeyAction.UPDATE or key.last_action_ok is not True:
        raise StepFailed(f"LiteLLM refused the plan's limits: {key.last_action_detail}")
    key_records.key_plan_record(key_id=key.pk, plan=plan)
    PersonalKey.objects.filter(pk=record.pk, plan_id=plan.pk).update(limits_applied=True)
    return None


_HANDLERS: dict[str, Callable[[PersonalKey], str | None]] = {
    Step.ISSUE: _step_issue,
    Step.PUSH: step_push,
    Step.VERIFY_CHAT: step_verify_chat,
    Step.VERIFY_KEY: _step_verify_key,
    Step.BLOCK: _step_block,
    Step.UNBLOCK: _step_unblock,
    Step.UPDATE_LIMITS: _step_update_limits,
    Step.ROTATE_ISSUE: _step_rotate_issue,
    Step.ROTATE_PUSH: step_rotate_push,
    Step.ROTATE_VERIFY_CHAT: step_rotate_verify_chat,
    Step.ROTATE_VERIFY_KEY: _step_rotate_verify_key,
    Step.ROTATE_DELETE_OLD: _step_rotate_delete_old,
    Step.ROTATE_RENAME: _step_rotate_rename,
}
