"""A person's key, the web side: the record, its desired state and waking a worker.

Nothing here calls a vendor. The web side (and staff, and the beat) writes the desired state
(`suspended`, `limits_applied`, `rotation_requested_at`) and starts the next step; the steps
that make the calls, one at a time on the network queue of the server they talk to, are in
portal/access/key_steps.py. `_next_step` compares the desired state with the key.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.litellm.keys import HANDOVER_STEP
from integrations.litellm.models import KeyPlan, KeyStatus, VirtualKey
from portal.access.models import Pairing, PersonalKey, PersonalKeyStatus, PersonalKeyStep
from portal.accounts.invitations import invited_plan
from portal.accounts.models import User
from portal.core.queues import network_queue_name, wake_after_commit
from portal.core.work import ENQUEUE_LEASE, hand_out_due

log = logging.getLogger(__name__)

Step = PersonalKeyStep
LITELLM = "litellm"
LIBRECHAT = "librechat"
# Which server each step talks to: it runs on that server's network queue (DESIGN.md).
STEP_VENDOR: dict[str, str] = {
    Step.ISSUE: LITELLM,
    Step.PUSH: LIBRECHAT,
    Step.VERIFY_CHAT: LIBRECHAT,
    Step.VERIFY_KEY: LITELLM,
    Step.BLOCK: LITELLM,
    Step.UNBLOCK: LITELLM,
    Step.UPDATE_LIMITS: LITELLM,
    Step.ROTATE_ISSUE: LITELLM,
    Step.ROTATE_PUSH: LIBRECHAT,
    Step.ROTATE_VERIFY_CHAT: LIBRECHAT,
    Step.ROTATE_VERIFY_KEY: LITELLM,
    Step.ROTATE_DELETE_OLD: LITELLM,
    Step.ROTATE_RENAME: LITELLM,
}
FIRST_ISSUE_STEPS = frozenset({Step.ISSUE, Step.PUSH, Step.VERIFY_CHAT, Step.VERIFY_KEY})
ROTATION_STEPS = frozenset(
    {
        Step.ROTATE_ISSUE,
        Step.ROTATE_PUSH,
        Step.ROTATE_VERIFY_CHAT,
        Step.ROTATE_VERIFY_KEY,
        Step.ROTATE_DELETE_OLD,
        Step.ROTATE_RENAME,
    }
)
# A key with a lifetime is replaced this long before it expires.
ROTATE_BEFORE_EXPIRY = dt.timedelta(days=7)
# "Rotate now" on the person's own page: at most one rotation in this time.
PERSON_ROTATION_INTERVAL = dt.timedelta(minutes=10)
ALIAS_PREFIX = "portal-person-"
# The marker in the key's LiteLLM metadata that names the person (reconcile finds keys by it);
# LiteLLM's services add managed_by="portal" and portal_key_id themselves.
PERSON_MARKER = "portal_person_id"
# /key/update fields a plan change sends (LiteLLM's names, contract §2.2); the key's lifetime
# is left as it is: a plan change must not cut a key's expiry short.
PLAN_FIELDS = ("models", "max_budget", "budget_duration", "soft_budget", "tpm_limit", "rpm_limit")


class StepRetry(Exception):
    """Not done yet for a reason that passes (a server down, a key still pending)."""

    def __init__(self, detail: str, *, at: dt.datetime | None = None, back_to: str | None = None) -> None:
        super().__init__(detail)
        self.at = at
        self.back_to = back_to


class StepFailed(Exception):
    """A cause no retry fixes: staff must look (the message says what to do)."""


def stable_alias(person_id: int) -> str:
    return f"{ALIAS_PREFIX}{person_id}"


def step_queue(record: PersonalKey, step: str | None = None) -> str:
    vendor = STEP_VENDOR[step or record.step]
    pairing = record.pairing
    server = pairing.litellm_server if vendor == LITELLM else pairing.librechat_server
    return network_queue_name(server.network)


# --- the web side: rows, desired state and enqueueing (no vendor calls) -----------------------


def pairing_for_account(account: LibreChatAccount) -> Pairing | None:
    return (
        Pairing.objects.select_related("default_plan").filter(librechat_server_id=account.server_id).first()
    )


def personal_key_start(*, person: User) -> PersonalKey | None:
    """Give a person whose LibreChat account is ready their key record, and wake a worker.
    Idempotent; None when the account is not ready or its server has no pairing."""
    existing = PersonalKey.objects.filter(person=person).first()
    if existing is not None:
        return existing
    account = LibreChatAccount.objects.filter(person=person, status=AccountStatus.READY).first()
    pairing = pairing_for_account(account) if account is not None else None
    if pairing is None:
        return None
    record, created = PersonalKey.objects.get_or_create(
        person=person,
        defaults={
            "pairing": pairing,
            # An invitation may name the person's plan (a CSV row's plan column).
            "plan": invited_plan(person=person) or pairing.default_plan,
            "step": Step.ISSUE,
            "status": PersonalKeyStatus.WORKING,
            "suspended": not person.is_active,
            "next_attempt_at": timezone.now() + ENQUEUE_LEASE,
        },
    )
    if created:
        personal_key_enqueue(record)
    return record


def personal_key_enqueue(record: PersonalKey) -> None:
    step = record.step
    if not step:
        return
    queue = step_queue(record, step)
    record_id = record.pk
    wake_after_commit(
        "access.personal_key_advance", kwargs={"record_id": record_id, "step": step}, queue=queue
    )


def personal_key_kick(*, record: PersonalKey) -> bool:
    """Start the next step if the record is idle and its desired state is not met yet. Call it
    in the transaction that changed the desired state (see _record_done for why)."""
    record.refresh_from_db()
    if record.step:
        return False
    step = _next_step(record)
    if not step:
        return False
    updated = PersonalKey.objects.filter(pk=record.pk, step="").update(
        step=step,
        status=PersonalKeyStatus.WORKING if step in FIRST_ISSUE_STEPS else record.status,
        attempts=0,
        next_attempt_at=timezone.now() + ENQUEUE_LEASE,
    )
    if updated:
        record.refresh_from_db()
        personal_key_enqueue(record)
    return bool(updated)


def personal_key_retry(*, record: PersonalKey) -> None:
    """Staff's "retry now" (or the person's page): the step that was given up runs again."""
    with transaction.atomic():
        record = PersonalKey.objects.select_for_update().get(pk=record.pk)
        if not record.step:
            record.step = _next_step(record)
        record.attempts = 0
        record.last_error = "" if record.step else record.last_error
        record.next_attempt_at = timezone.now() + ENQUEUE_LEASE
        if record.status == PersonalKeyStatus.NEEDS_ATTENTION:
            record.status = (
                PersonalKeyStatus.WORKING
                if record.step in FIRST_ISSUE_STEPS or not record.key_id
                else PersonalKeyStatus.READY
            )
        record.save()
        personal_key_enqueue(record)


class RotationRefused(Exception):
    pass


def personal_key_rotate(*, record: PersonalKey) -> None:
    """Ask for a rotation now (admin action, "rotate now" on /me/)."""
    if record.suspended:
        raise RotationRefused("the person is suspended: their key is blocked, not rotated")
    if record.key_id is None:
        raise RotationRefused("there is no key to rotate yet")
    with transaction.atomic():
        PersonalKey.objects.filter(pk=record.pk, rotation_requested_at__isnull=True).update(
            rotation_requested_at=timezone.now()
        )
        personal_key_kick(record=record)


def personal_key_plan_change(*, record: PersonalKey, plan: KeyPlan) -> None:
    with transaction.atomic():
        PersonalKey.objects.filter(pk=record.pk).update(plan=plan, limits_applied=False)
        personal_key_kick(record=record)


def personal_key_suspend(*, person: Any, suspended: bool) -> PersonalKey | None:
    """Deactivation blocks the key, reactivation unblocks it (the steps do the calls)."""
    record = PersonalKey.objects.filter(person_id=person.pk).first()
    if record is None:
        return None
    with transaction.atomic():
        PersonalKey.objects.filter(pk=record.pk).update(suspended=suspended)
        personal_key_kick(record=record)
    return record


def _next_step(record: PersonalKey) -> str:
    """What the desired state still asks for, read fresh (the web side writes it meanwhile)."""
    fresh = (
        PersonalKey.objects.filter(pk=record.pk)
        .values("suspended", "limits_applied", "rotation_requested_at", "key_id", "pushed_at")
        .first()
    )
    if fresh is None:
        return ""
    if fresh["key_id"] is None:
        return Step.ISSUE
    key = VirtualKey.objects.filter(pk=fresh["key_id"]).values("blocked", "status", "rotation_step").first()
    if key is None or key["status"] in (KeyStatus.FAILED, KeyStatus.DELETED):
        return Step.ISSUE
    if key["rotation_step"] == HANDOVER_STEP:
        # Staff rotated the key in the LiteLLM admin: the engine waits for LibreChat to get it.
        return Step.ROTATE_PUSH
    if fresh["suspended"] and not key["blocked"]:
        return Step.BLOCK
    if not fresh["suspended"] and key["blocked"]:
        return Step.UNBLOCK
    if not fresh["suspended"] and fresh["pushed_at"] is None:
        return Step.PUSH  # suspended before LibreChat got the key: it gets it now
    if not fresh["limits_applied"]:
        return Step.UPDATE_LIMITS
    if fresh["rotation_requested_at"] is not None and not fresh["suspended"]:
        return Step.ROTATE_ISSUE
    return Step.IDLE


# --- the beat -----------------------------------------------------------------------------


def personal_keys_due(*, limit: int = 1000) -> int:
    """Hand every record whose step is due to its queue; start what the desired state asks
    for; give people whose LibreChat account is ready (on a paired server) their record; and
    ask for the rotations that are due. The database is the source of truth: a lost message
    or a killed worker only delays a step until its lease runs out."""
    now = timezone.now()
    handed = hand_out_due(
        PersonalKey.objects.select_related("pairing__litellm_server", "pairing__librechat_server")
        .exclude(step="")
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)),
        wake=personal_key_enqueue,
        limit=limit,
    )
    PersonalKey.objects.filter(
        step="", rotation_due_at__lte=now, rotation_requested_at__isnull=True, suspended=False
    ).update(rotation_requested_at=now)
    wanting = PersonalKey.objects.filter(step="").filter(
        Q(rotation_requested_at__isnull=False, suspended=False)
        | Q(limits_applied=False)
        | Q(suspended=True, key__blocked=False)
        | Q(key__rotation_step=HANDOVER_STEP)
    )[:limit]
    for record in wanting:
        with transaction.atomic():
            handed += personal_key_kick(record=record)
    handed += people_start_missing(limit=limit)
    return handed


def people_start_missing(*, limit: int = 1000) -> int:
    """Ready LibreChat accounts on a paired server whose person has no key record yet."""
    accounts = (
        LibreChatAccount.objects.filter(
            status=AccountStatus.READY,
            server__pairing__isnull=False,
            person__personal_key__isnull=True,
            person__is_active=True,
        )
        .select_related("person")
        .order_by("pk")[:limit]
    )
    started = 0
    for account in accounts:
        with transaction.atomic():
            started += personal_key_start(person=account.person) is not None
    return started


# --- what the person sees on /me/, and the librechat.yaml block ----------------------------------


def pairing_librechat_yaml(*, pairing: Pairing) -> str:
    """The custom endpoint block for librechat.yaml, ready to paste (contract "librechat.yaml")."""
    import yaml

    from integrations.litellm.client import normalise_base_url
    from integrations.litellm.models import LiteLLMModel

    base = pairing.litellm_url_for_librechat.strip() or pairing.litellm_server.base_url
    try:
        base = normalise_base_url(base)
    except ValueError:
        base = base.rstrip("/")
    models = list(pairing.default_plan.allowed_models or []) or sorted(
        set(LiteLLMModel.objects.filter(server=pairing.litellm_server).values_list("model_name", flat=True))
    )
    block = {
        "endpoints": {
            "custom": [
                {
                    "name": pairing.endpoint_name,
                    "apiKey": "user_provided",
                    "baseURL": f"{base}/v1",
                    # Fetching the model list with a user-provided key needs LibreChat 0.8.5+;
                    # the default list keeps older versions working.
                    "models": {"default": models or ["gpt-4o-mini"], "fetch": True},
                    "titleConvo": True,
                    "modelDisplayLabel": pairing.endpoint_name,
                }
            ]
        }
    }
    text = yaml.safe_dump(block, sort_keys=False, default_flow_style=False)
    return (
        "# Merge into librechat.yaml (version: 1.3.14 or the one your LibreChat expects).\n"
        "# baseURL is LiteLLM as LibreChat's containers reach it: service name and container port.\n"
        "# models.fetch with a user-provided key needs LibreChat 0.8.5 or newer.\n" + text
    )
