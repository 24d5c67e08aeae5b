"""LiteLLM domain actions: servers, keys, models, sync.

Entry points (admin, tasks, commands) call these. Vendor calls happen only in functions a
task runs on the server's network queue (`network_queue_name(server.network)`); functions
that only write rows (key_create, key_block, ...) record the work on the row and enqueue it
after commit, so the database stays the source of truth for work in flight.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.http import VendorError
from integrations.litellm.client import (
    MAX_PAGE_SIZE,
    KeyInfo,
    KeyNotFound,
    KeyPage,
    LiteLLMClient,
    abbreviate_key,
    generate_raw_key,
    hash_token,
    is_lost_answer,
)
from integrations.litellm.models import (
    CheckStatus,
    KeyAction,
    KeyOrigin,
    KeyPlan,
    KeyStatus,
    LiteLLMModel,
    LiteLLMServer,
    ModelSource,
    VirtualKey,
)
from portal.core.queues import network_queue_name, wake_after_commit

log = logging.getLogger(__name__)

# /key/update replaces metadata wholesale (contract §2.2): this marker is sent in full with
# every create and update, so an edit never drops it.
MANAGED_BY = "portal"
# A claimed row is left alone this long by other workers (longer than the task time limit).
CLAIM_LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)
# A pending action still failing after this many tries (about a day with the backoff) is
# reported failed instead of retried forever.
MAX_ATTEMPTS = 30
# Keys missing from a sync listing are confirmed one by one (a key deleted during the sync
# shifts later pages, so a listing alone can skip a live key); past this many the rest wait
# for the next sync.
MAX_MISSING_CONFIRMATIONS = 200
ROTATING_ALIAS_SUFFIX = ".rotating"


def client_for(server: LiteLLMServer) -> LiteLLMClient:
    master_key = server.master_key
    if not master_key:
        raise ValueError(f"LiteLLM server '{server.name}' has no master key")
    return LiteLLMClient(base_url=server.base_url, master_key=master_key.reveal())


def server_queue(server: LiteLLMServer) -> str:
    return network_queue_name(server.network)


# --- servers ---------------------------------------------------------------------------------


@dataclass
class ServerCheck:
    reachable: bool
    diagnosis: str
    litellm_version: str = ""
    db: str = ""
    models: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "diagnosis": self.diagnosis,
            "litellm_version": self.litellm_version,
            "db": self.db,
            "models": self.models,
        }


def server_check(*, server: LiteLLMServer) -> ServerCheck:
    """ "Test connection": liveliness, version, and the models discovered (recorded on the row)."""
    now = timezone.now()
    try:
        with client_for(server) as client:
            client.liveliness()
            readiness = client.readiness()
            deployments = client.model_info()
            models_store(server=server, deployments=deployments, now=now)
    except (VendorError, ValueError) as exc:
        check = ServerCheck(reachable=False, diagnosis=str(exc))
        server.check_status = CheckStatus.FAILED
    else:
        names = sorted({d.model_name for d in deployments})
        check = ServerCheck(
            reachable=True,
            diagnosis=f"Connection successful: LiteLLM {readiness.litellm_version or '(version unknown)'}, "
            f"{len(names)} models discovered.",
            litellm_version=readiness.litellm_version,
            db=readiness.db,
            models=names,
        )
        server.check_status = CheckStatus.OK
        server.litellm_version = readiness.litellm_version[:50]
        server.db_status = readiness.db[:50]
        server.models_synced_at = now
    server.checked_at = now
    server.check_diagnosis = check.diagnosis
    server.save(
        update_fields=[
            "check_status",
            "checked_at",
            "check_diagnosis",
            "litellm_version",
            "db_status",
            "models_synced_at",
        ]
    )
    return check


# --- models ----------------------------------------------------------------------------------


def models_store(*, server: LiteLLMServer, deployments: list[Any], now: datetime) -> tuple[int, int, int]:
    """Make the server's model rows match /model/info. Returns (added, updated, removed)."""
    existing = {m.model_id: m for m in LiteLLMModel.objects.filter(server=server)}
    added = updated = 0
    seen: set[str] = set()
    with transaction.atomic():
        for d in deployments:
            seen.add(d.model_id)
            values = {
                "model_name": d.model_name[:255],
                "provider_model": d.provider_model[:255],
                "source": ModelSource.DATABASE if d.db_model else ModelSource.CONFIG,
                "litellm_params": _public_params(d.litellm_params),
                "last_synced_at": now,
            }
            row = existing.get(d.model_id)
            if row is None:
                LiteLLMModel.objects.create(server=server, model_id=d.model_id, **values)
                added += 1
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.save()
                updated += 1
        removed, _ = LiteLLMModel.objects.filter(server=server).exclude(model_id__in=seen).delete()
    return added, updated, removed


def _public_params(params: Mapping[str, Any]) -> dict[str, Any]:
    # LiteLLM already removes api keys from /model/info (§3.2); drop anything key-like anyway.
    return {k: v for k, v in params.items() if "key" not in k.lower() and "secret" not in k.lower()}


def model_add(
    *, server: LiteLLMServer, model_name: str, provider_model: str, api_key_env: str = "", api_base: str = ""
) -> LiteLLMModel:
    """POST /model/new (needs STORE_MODEL_IN_DB=True on the proxy). The provider key is passed
    as an `os.environ/NAME` reference that LiteLLM resolves itself: no literal secret leaves here."""
    params: dict[str, Any] = {"model": provider_model}
    if api_key_env:
        params["api_key"] = f"os.environ/{api_key_env}"
    if api_base:
        params["api_base"] = api_base
    with client_for(server) as client:
        model_id = client.model_new(model_name=model_name, litellm_params=params)
    row, _ = LiteLLMModel.objects.update_or_create(
        server=server,
        model_id=model_id,
        defaults={
            "model_name": model_name,
            "provider_model": provider_model,
            "source": ModelSource.DATABASE,
            "litellm_params": _public_params(params)
            | ({"api_key": params["api_key"]} if api_key_env else {}),
            "last_synced_at": timezone.now(),
        },
    )
    return row


class ConfigModelReadOnly(Exception):
    """A model from the proxy's config file cannot be changed through the API (§3.4)."""


def model_delete(*, model: LiteLLMModel) -> None:
    if model.source != ModelSource.DATABASE:
        raise ConfigModelReadOnly(
            f"'{model.model_name}' comes from the proxy's config file: edit config.yaml and restart "
            "LiteLLM (the API deletes only database models)"
        )
    with client_for(model.server) as client:
        client.model_delete(model_id=model.model_id)
    model.delete()


def models_export_yaml(*, server: LiteLLMServer, env_names: Mapping[str, str] | None = None) -> str:
    """A ready `model_list:` block for config.yaml. Provider keys are `os.environ/NAME`
    references (LiteLLM resolves them at start), never literals."""
    import yaml

    env_names = env_names or {}
    entries = []
    for m in LiteLLMModel.objects.filter(server=server).order_by("model_name", "model_id"):
        provider = (m.provider_model.split("/", 1)[0] if "/" in m.provider_model else "openai").lower()
        params: dict[str, Any] = {"model": m.provider_model or m.model_name}
        for name in ("api_base", "api_version", "rpm", "tpm"):
            if m.litellm_params.get(name) not in (None, ""):
                params[name] = m.litellm_params[name]
        if provider == "ollama" or provider == "ollama_chat":
            params.setdefault("api_base", "os.environ/OLLAMA_API_BASE")
        else:
            env = env_names.get(provider) or _PROVIDER_KEY_ENV.get(provider, f"{provider.upper()}_API_KEY")
            params["api_key"] = f"os.environ/{env}"
        entries.append({"model_name": m.model_name, "litellm_params": params})
    return yaml.safe_dump({"model_list": entries}, sort_keys=False, default_flow_style=False)


_PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "VERTEXAI_CREDENTIALS",
    "azure": "AZURE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
}


# --- keys: rows and intent (no vendor calls) --------------------------------------------------


@dataclass
class KeySettings:
    """What LiteLLM enforces on a key: the fields of /key/generate the portal manages (§2.1)."""

    allowed_models: list[str] = field(default_factory=list)
    max_budget: Decimal | None = None
    budget_duration: str = ""
    soft_budget: Decimal | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    duration: str = ""  # key lifetime; "" = never expires

    @classmethod
    def from_plan(cls, plan: KeyPlan) -> KeySettings:
        return cls(
            allowed_models=list(plan.allowed_models or []),
            max_budget=plan.max_budget,
            budget_duration=plan.budget_duration,
            soft_budget=plan.soft_budget,
            tpm_limit=plan.tpm_limit,
            rpm_limit=plan.rpm_limit,
            max_parallel_requests=plan.max_parallel_requests,
            duration=plan.key_duration,
        )


def key_create(
    *,
    server: LiteLLMServer,
    alias: str,
    owner: str = "",
    plan: KeyPlan | None = None,
    settings: KeySettings | None = None,
    metadata: Mapping[str, Any] | None = None,
    keep_secret: bool = False,
    spend: float | None = None,
    enqueue: bool = True,
) -> VirtualKey:
    """Record a new key and generate its raw value here (stored encrypted until revealed).

    LiteLLM is told by the task `litellm.key_apply_pending` on the server's network queue;
    with enqueue=False the caller dispatches it itself (the admin waits a few seconds).
    `spend` is what the key starts at: a replacement carries the spend of the key it replaces.
    """
    if settings is None:
        settings = KeySettings.from_plan(plan) if plan else KeySettings()
    raw = generate_raw_key()
    # Sent with every attempt of the create (a retry sends the same key and the same spend).
    changes: dict[str, Any] = {"duration": settings.duration} if settings.duration else {}
    if spend is not None:
        changes["spend"] = spend
    key = VirtualKey(
        server=server,
        key_alias=alias,
        owner=owner,
        plan=plan,
        allowed_models=list(settings.allowed_models),
        max_budget=settings.max_budget,
        budget_duration=settings.budget_duration,
        soft_budget=settings.soft_budget,
        tpm_limit=settings.tpm_limit,
        rpm_limit=settings.rpm_limit,
        max_parallel_requests=settings.max_parallel_requests,
        metadata=dict(metadata or {}),
        token_hash=hash_token(raw),
        key_name=abbreviate_key(raw),
        keep_secret=keep_secret,
        origin=KeyOrigin.PORTAL,
        status=KeyStatus.CREATING,
        pending_action=KeyAction.CREATE,
        pending_changes=changes,
        spend=_decimal(spend, places=6) or Decimal(0),
        next_attempt_at=timezone.now(),
    )
    key.raw_key = raw
    with transaction.atomic():
        key.save()
        if enqueue:
            _enqueue_on_commit(key)
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
            _enqueue_on_commit(row)
    return key


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


_UPDATABLE = (
    "key_alias",
    "models",
    "max_budget",
    "budget_duration",
    "soft_budget",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "duration",
    "user_id",
)


def _jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, Decimal):
            value = float(value)
        if value == "" and name in ("budget_duration", "key_alias", "user_id"):
            value = None
        out[name] = value
    return out


def _enqueue_on_commit(key: VirtualKey) -> None:
    from integrations.litellm import tasks

    key_id = key.pk
    queue_name = server_queue(key.server)
    wake_after_commit(tasks.key_apply_pending, kwargs={"key_id": key_id}, queue=queue_name)


def key_reveal(*, key: VirtualKey) -> str | None:
    """The raw key, once. Afterwards it is dropped from the row unless it must be kept to be
    handed on later (keep_secret). Returns None when there is nothing (more) to reveal."""
    with transaction.atomic():
        row = VirtualKey.objects.select_for_update().get(pk=key.pk)
        if row.revealed_at is not None or row.raw_key is None or row.status != KeyStatus.ACTIVE:
            return None
        if row.pending_action in (KeyAction.CREATE, KeyAction.ROTATE):
            return None
        raw = row.raw_key.reveal()
        row.revealed_at = timezone.now()
        fields = ["revealed_at", "updated_at"]
        if not row.keep_secret:
            row.raw_key = None
            fields.append("raw_key")
        row.save(update_fields=fields)
    return raw


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
    ):
        return False
    if "raw_key" in key.__dict__:
        return key.__dict__["raw_key"] is not None
    # Deferred (the admin never loads secrets it does not show): ask without decrypting.
    return VirtualKey.objects.filter(pk=key.pk, raw_key__isnull=False).exists()


# --- keys: telling LiteLLM (run in a task on the server's network queue) ----------------------


@dataclass
class ActionOutcome:
    key_id: int
    action: str
    ok: bool | None  # None: not finished, will be retried
    detail: str

    def as_result(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "action": self.action, "ok": self.ok, "detail": self.detail}


class _Retry(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Fail(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def key_claim(*, key_id: int) -> VirtualKey | None:
    """Take the row's pending action for this worker for a lease, or None if not due / taken."""
    now = timezone.now()
    claimed = (
        VirtualKey.objects.filter(pk=key_id)
        .exclude(pending_action="")
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + CLAIM_LEASE)
    )
    if not claimed:
        return None
    return VirtualKey.objects.select_related("server").get(pk=key_id)


def key_apply_pending(*, key_id: int, client: LiteLLMClient | None = None) -> ActionOutcome:
    """Carry out the row's pending action against LiteLLM and record the outcome on the row."""
    key = key_claim(key_id=key_id)
    if key is None:
        row = VirtualKey.objects.filter(pk=key_id).first()
        if row is None:
            return ActionOutcome(key_id, "", False, "no such key")
        if row.pending_action:
            # Another worker holds it (the beat job and an admin can both wake it up).
            return ActionOutcome(key_id, row.pending_action, None, "in progress in another worker")
        return ActionOutcome(
            key_id, row.last_action, row.last_action_ok, row.last_action_detail or "nothing due"
        )
    action = key.pending_action
    own_client = client is None
    try:
        active = client or client_for(key.server)
    except ValueError as exc:
        return _record(key, action, ok=False, detail=str(exc))
    try:
        handler = _HANDLERS[action]
        detail = handler(key, active)
    except _Retry as exc:
        return _record(key, action, ok=None, detail=exc.detail)
    except _Fail as exc:
        return _record(key, action, ok=False, detail=exc.detail)
    except VendorError as exc:
        return _record(key, action, ok=None if exc.retryable else False, detail=str(exc))
    finally:
        if own_client:
            active.close()
    return _record(key, action, ok=True, detail=detail)


def _record(key: VirtualKey, action: str, *, ok: bool | None, detail: str) -> ActionOutcome:
    now = timezone.now()
    key.last_action = action
    key.last_action_ok = ok
    key.last_action_detail = detail[:2000]
    key.last_action_at = now
    if ok is None and key.attempts + 1 >= MAX_ATTEMPTS:
        ok = False
        detail = f"gave up after {MAX_ATTEMPTS} attempts: {detail}"
    if ok is None:
        key.attempts += 1
        key.next_attempt_at = now + min(timedelta(seconds=15 * 2**key.attempts), MAX_BACKOFF)
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
    if ok is True and key.keep_secret and action in (KeyAction.CREATE, KeyAction.ROTATE):
        from integrations.litellm.signals import key_secret_changed

        key_id, what = key.pk, str(action)
        transaction.on_commit(lambda: key_secret_changed.send(sender=VirtualKey, key_id=key_id, action=what))
    log.info("litellm key %s: %s -> %s", key.pk, action, {True: "done", False: "failed", None: "retry"}[ok])
    return ActionOutcome(key.pk, action, ok, detail)


def _expires_duration(expires: datetime | None) -> str | None:
    if expires is None:
        return None
    seconds = int((expires - timezone.now()).total_seconds())
    return f"{max(seconds, 1)}s"


def key_metadata(key: VirtualKey) -> dict[str, Any]:
    """The full metadata to send: what LiteLLM holds plus the portal's marker (§2.2: wholesale)."""
    return {
        **(key.metadata or {}),
        "managed_by": MANAGED_BY,
        "portal_key_id": key.pk,
        "portal_owner": key.owner,
        "portal_plan": key.plan.name if key.plan_id and key.plan else None,
    }


def _generate_fields(
    key: VirtualKey, *, alias: str | None, duration: str | None, spend: float | None = None
) -> dict[str, Any]:
    # `spend`: /key/generate takes the new key's starting spend (LiteLLM 1.106.2,
    # litellm/proxy/_types.py GenerateRequestBase.spend; written to the key row by
    # generate_key_helper_fn in litellm/proxy/management_endpoints/key_management_endpoints.py).
    fields: dict[str, Any] = {
        "key_alias": alias or None,
        "models": list(key.allowed_models or []),
        "max_budget": float(key.max_budget) if key.max_budget is not None else None,
        "budget_duration": key.budget_duration or None,
        "soft_budget": float(key.soft_budget) if key.soft_budget is not None else None,
        "tpm_limit": key.tpm_limit,
        "rpm_limit": key.rpm_limit,
        "max_parallel_requests": key.max_parallel_requests,
        "user_id": key.owner or None,
        "metadata": key_metadata(key),
        "blocked": key.blocked or None,
        "duration": duration,
        "spend": spend,
    }
    return {k: v for k, v in fields.items() if v is not None}


def key_fingerprint(info: KeyInfo) -> str:
    """16 hex characters that change whenever anything the row mirrors changes in LiteLLM."""
    import hashlib

    parts = (
        info.key_alias,
        info.user_id,
        info.models,
        info.max_budget,
        info.budget_duration,
        info.soft_budget,
        info.tpm_limit,
        info.rpm_limit,
        info.max_parallel_requests,
        info.expires.isoformat() if info.expires else None,
        info.metadata,
        info.blocked,
        info.spend,
        info.key_name,
        info.created_at.isoformat() if info.created_at else None,
    )
    # repr, not json.dumps: half the cost, and stable for the JSON-born values in `parts`.
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def key_apply_info(key: VirtualKey, info: KeyInfo, *, now: datetime | None = None) -> bool:
    """Copy what LiteLLM holds onto the row. Returns True when a field changed."""
    values: dict[str, Any] = {
        "key_alias": info.key_alias or "",
        "owner": info.user_id or "",
        "allowed_models": list(info.models),
        "max_budget": _decimal(info.max_budget),
        "budget_duration": info.budget_duration or "",
        "tpm_limit": info.tpm_limit,
        "rpm_limit": info.rpm_limit,
        "max_parallel_requests": info.max_parallel_requests,
        "expires": info.expires,
        "metadata": info.metadata,
        "blocked": info.blocked,
        "spend": _decimal(info.spend, places=6) or Decimal(0),
    }
    if info.soft_budget is not None:  # /key/generate does not echo it (§2.1)
        values["soft_budget"] = _decimal(info.soft_budget)
    if info.key_name:
        values["key_name"] = info.key_name[:20]
    if info.created_at:
        values["litellm_created_at"] = info.created_at
    changed = False
    for name, value in values.items():
        current = getattr(key, name)
        if isinstance(current, Decimal) and isinstance(value, Decimal):
            same = current.compare(value) == 0
        else:
            same = current == value
        if not same:
            setattr(key, name, value)
            changed = True
    if key.status in (KeyStatus.MISSING, KeyStatus.CREATING):
        key.status = KeyStatus.ACTIVE
        changed = True
    fingerprint = key_fingerprint(info)
    if key.sync_fingerprint != fingerprint:
        key.sync_fingerprint = fingerprint
        changed = True
    key.last_synced_at = now or timezone.now()
    return changed


def _decimal(value: float | None, places: int = 4) -> Decimal | None:
    if value is None:
        return None
    return round(Decimal(repr(value)), places)


def _handle_create(key: VirtualKey, client: LiteLLMClient) -> str:
    raw = key.raw_key
    if raw is None or not key.token_hash:
        raise _Fail("the raw key was lost before LiteLLM was told; create a new key")
    duration = key.pending_changes.get("duration") or None
    fields = _generate_fields(
        key, alias=key.key_alias, duration=duration, spend=key.pending_changes.get("spend")
    )
    try:
        generated = client.key_generate(raw_key=raw.reveal(), fields=fields)
        info = generated.info
    except VendorError as exc:
        info = _recover(client, key.token_hash, exc)
    key_apply_info(key, info)
    key.status = KeyStatus.ACTIVE
    return f"Created in LiteLLM as {key.key_name}"


def _recover(client: LiteLLMClient, token_hash: str, error: VendorError) -> KeyInfo:
    """After a failed POST: did LiteLLM write it anyway? Ask for the hash (§1).

    Also after a refusal: a worker killed after LiteLLM wrote the key leaves the retry to send
    the same key again, which LiteLLM refuses (the alias is taken, by that very key, §1). The
    raw key was generated here, so a key with its hash is ours."""
    worth_retrying = is_lost_answer(error) or error.retryable
    try:
        found = client.key_find(token_hash=token_hash or "")
    except VendorError as lookup_error:
        if not worth_retrying:
            raise error from None
        raise _Retry(f"{error} (and the check whether it was written failed: {lookup_error})") from None
    if found is None:
        raise error
    return found


def _handle_update(key: VirtualKey, client: LiteLLMClient) -> str:
    changes = dict(key.pending_changes)
    metadata = key_metadata(key)
    try:
        info = client.key_update(token_hash=_hash(key), fields={**changes, "metadata": metadata})
    except KeyNotFound:
        key.status = KeyStatus.MISSING
        raise _Fail("LiteLLM no longer has this key") from None
    key_apply_info(key, info)
    # /key/update does not echo soft_budget from the budget table: keep what LiteLLM accepted.
    if "soft_budget" in changes:
        key.soft_budget = _decimal(changes["soft_budget"])
    return "Changed in LiteLLM: " + ", ".join(sorted(changes)) if changes else "Metadata refreshed in LiteLLM"


def _handle_block(key: VirtualKey, client: LiteLLMClient) -> str:
    try:
        info = client.key_block(token_hash=_hash(key))
    except KeyNotFound:
        key.status = KeyStatus.MISSING
        raise _Fail("LiteLLM no longer has this key") from None
    key.blocked = info.blocked
    return "Blocked in LiteLLM"


def _handle_unblock(key: VirtualKey, client: LiteLLMClient) -> str:
    try:
        info = client.key_unblock(token_hash=_hash(key))
    except KeyNotFound:
        key.status = KeyStatus.MISSING
        raise _Fail("LiteLLM no longer has this key") from None
    key.blocked = info.blocked
    return "Unblocked in LiteLLM"


def _handle_delete(key: VirtualKey, client: LiteLLMClient) -> str:
    try:
        client.key_delete(token_hashes=[_hash(key)])
        detail = "Deleted in LiteLLM"
    except KeyNotFound:
        detail = "LiteLLM no longer had this key; marked deleted"
    key.status = KeyStatus.DELETED
    key.raw_key = None
    return detail


def _handle_refresh(key: VirtualKey, client: LiteLLMClient) -> str:
    found = client.key_find(token_hash=_hash(key))
    if found is None:
        key.status = KeyStatus.MISSING
        raise _Fail("LiteLLM no longer has this key")
    key_apply_info(key, found)
    return f"Refreshed: spend {found.spend:g}" + (
        f" of {found.max_budget:g}" if found.max_budget is not None else ""
    )


def _handle_rotate(key: VirtualKey, client: LiteLLMClient) -> str:
    """Rotate without /key/regenerate (enterprise only, §2.7), step by step so that a failure
    anywhere leaves exactly one key the row can name, and the step reached on the row:

    generate  the replacement under a temporary alias (aliases are unique, §1), same settings
    swap      the row now names the replacement (old hash kept in rotation_old_hash)
    delete    the old key (404 = already gone)
    rename    the replacement takes the old alias
    """
    alias = key.key_alias
    if key.rotation_step in ("", "generate"):
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
        fields = _generate_fields(
            key,
            alias=temporary,
            duration=_expires_duration(key.expires),
            spend=key.pending_changes["spend"],
        )
        try:
            generated = client.key_generate(raw_key=new_raw.reveal(), fields=fields)
            info = generated.info
        except VendorError as exc:
            info = _recover(client, new_hash, exc)
        with transaction.atomic():
            key.rotation_old_hash = _hash(key)
            key.token_hash = new_hash
            key.raw_key = new_raw
            key.rotation_new_key = None
            key.key_name = abbreviate_key(new_raw.reveal())
            key.revealed_at = None
            key.spend = _decimal(info.spend, places=6) or Decimal(0)
            key.rotation_step = "delete"
            key.litellm_created_at = info.created_at
            key.save()
    if key.rotation_step == "delete":
        with contextlib.suppress(KeyNotFound):  # deleted already (a retry after a lost answer)
            client.key_delete(token_hashes=[key.rotation_old_hash])
        key.rotation_step = "rename"
        key.save(update_fields=["rotation_step"])
    if key.rotation_step == "rename":
        if alias:
            info = client.key_update(
                token_hash=_hash(key), fields={"key_alias": alias, "metadata": key_metadata(key)}
            )
            key_apply_info(key, info)
        key.rotation_step = ""
        key.rotation_old_hash = ""
        key.rotated_at = timezone.now()
    return f"Rotated: the new key is {key.key_name}; the old one is deleted"


def _spend_now(client: LiteLLMClient, key: VirtualKey) -> float:
    """What LiteLLM counts on the key now: the row's copy lags up to one sync behind."""
    found = client.key_find(token_hash=_hash(key))
    return found.spend if found is not None else float(key.spend)


def _hash(key: VirtualKey) -> str:
    if not key.token_hash:
        raise _Fail("this key has no LiteLLM hash")
    return key.token_hash


_HANDLERS: dict[str, Callable[[VirtualKey, LiteLLMClient], str]] = {
    KeyAction.CREATE: _handle_create,
    KeyAction.UPDATE: _handle_update,
    KeyAction.BLOCK: _handle_block,
    KeyAction.UNBLOCK: _handle_unblock,
    KeyAction.DELETE: _handle_delete,
    KeyAction.REFRESH: _handle_refresh,
    KeyAction.ROTATE: _handle_rotate,
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


# --- sync --------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    list_calls: int = 0
    seen: int = 0
    adopted: int = 0
    updated: int = 0
    missing: int = 0
    models_added: int = 0
    models_removed: int = 0

    def as_result(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return (
            f"{self.seen} keys seen in {self.list_calls} list calls: {self.adopted} adopted, "
            f"{self.updated} updated, {self.missing} missing; models +{self.models_added} -{self.models_removed}"
        )


def _pages(client: LiteLLMClient, page_size: int, report: SyncReport) -> Iterator[KeyPage]:
    """Pages of /key/list in created_at ascending order, the next one downloading while the
    caller writes the current one (so the sync costs about the download time)."""
    first = client.key_list(page=1, size=page_size)
    report.list_calls += 1
    yield first
    if first.total_pages <= 1:
        return
    ahead: queue.Queue[KeyPage | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def download() -> None:
        try:
            for number in range(2, first.total_pages + 1):
                if stop.is_set():
                    return
                ahead.put(client.key_list(page=number, size=page_size))
        except BaseException as exc:
            ahead.put(exc)
            return
        ahead.put(None)

    worker = threading.Thread(target=download, name="litellm-key-list", daemon=True)
    worker.start()
    try:
        while True:
            item = ahead.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            report.list_calls += 1
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                ahead.get_nowait()
            except queue.Empty:
                worker.join(0.05)


_SYNC_FIELDS = [
    "key_alias",
    "owner",
    "allowed_models",
    "max_budget",
    "budget_duration",
    "soft_budget",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "expires",
    "metadata",
    "blocked",
    "spend",
    "key_name",
    "litellm_created_at",
    "status",
    "last_synced_at",
    "sync_fingerprint",
]


def _seen_mark(token_hash: str) -> int:
    # 64 bits of the hash: a set of a million of these is ~40 MB, and a collision could only
    # delay marking one key missing until the next sync.
    return int(token_hash[:16], 16) if len(token_hash) >= 16 else hash(token_hash)


def _sync_page(
    server: LiteLLMServer, keys: list[KeyInfo], started: datetime, report: SyncReport, seen: set[int]
) -> None:
    hashes = [k.token for k in keys]
    seen.update(_seen_mark(h) for h in hashes)
    fingerprints = {info.token: key_fingerprint(info) for info in keys}
    # First only (hash, fingerprint, pending): an unchanged key costs a 16-character compare;
    # whole rows are loaded only for keys whose fingerprint moved.
    narrow = list(
        VirtualKey.objects.filter(server=server, token_hash__in=hashes).values_list(
            "pk", "token_hash", "sync_fingerprint", "pending_action", "status"
        )
    )
    known = {token for _, token, _, _, _ in narrow}
    stale = [
        pk
        for pk, token, fingerprint, pending, status in narrow
        if fingerprint != fingerprints.get(token or "") or status != KeyStatus.ACTIVE
        if pending not in (KeyAction.CREATE, KeyAction.ROTATE, KeyAction.DELETE)
    ]
    existing = (
        {
            row.token_hash: row
            for row in VirtualKey.objects.filter(pk__in=stale).only(
                "token_hash", "pending_action", *_SYNC_FIELDS
            )
        }
        if stale
        else {}
    )
    # Keys the portal made whose row does not name them yet (a rotation's replacement in
    # flight) carry our marker with the row id: never adopt those as strangers.
    in_flight_ids = {
        k.metadata.get("portal_key_id")
        for k in keys
        if k.token not in known and k.metadata.get("managed_by") == MANAGED_BY
    }
    in_flight_ids.discard(None)
    ours = (
        set(
            VirtualKey.objects.filter(pk__in=[i for i in in_flight_ids if isinstance(i, int)]).values_list(
                "pk", flat=True
            )
        )
        if in_flight_ids
        else set()
    )
    changed: list[VirtualKey] = []
    new: list[KeyInfo] = []
    for info in keys:
        row = existing.get(info.token)
        if row is None:
            if info.token in known:
                continue  # unchanged since the last sync, or busy with a pending action
            if info.metadata.get("managed_by") == MANAGED_BY and info.metadata.get("portal_key_id") in ours:
                continue
            new.append(info)
            continue
        if row.pending_action in (KeyAction.CREATE, KeyAction.ROTATE, KeyAction.DELETE):
            continue
        # Unchanged rows are not written at all: rewriting 10,000 rows (and their indexes)
        # to stamp "seen" cost more than downloading them; `seen` records it in memory.
        if key_apply_info(row, info, now=started):
            changed.append(row)
    with transaction.atomic():
        if new:
            _insert_found(server, new, started)
        if changed:
            VirtualKey.objects.bulk_update(changed, _SYNC_FIELDS, batch_size=500)
    report.seen += len(keys)
    report.adopted += len(new)
    report.updated += len(changed)


_INSERT_FOUND_SQL = """
INSERT INTO litellm_virtualkey (
    server_id, token_hash, key_alias, owner, allowed_models, max_budget, budget_duration, soft_budget,
    tpm_limit, rpm_limit, max_parallel_requests, expires, metadata, blocked, spend, key_name,
    litellm_created_at, sync_fingerprint, last_synced_at, keep_secret, origin, status, pending_action, pending_changes,
    attempts, rotation_step, rotation_old_hash, last_action, last_action_detail, created_at, updated_at
)
SELECT %(server)s, r.token_hash, r.key_alias, r.owner, r.allowed_models, r.max_budget, r.budget_duration,
    r.soft_budget, r.tpm_limit, r.rpm_limit, r.max_parallel_requests, r.expires, r.metadata, r.blocked,
    r.spend, r.key_name, r.litellm_created_at, r.sync_fingerprint, %(now)s, false, %(origin)s, %(status)s, '', '{}'::jsonb,
    0, '', '', '', '', %(now)s, %(now)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    token_hash text, key_alias text, owner text, allowed_models jsonb, max_budget numeric,
    budget_duration text, soft_budget numeric, tpm_limit integer, rpm_limit integer,
    max_parallel_requests integer, expires timestamptz, metadata jsonb, blocked boolean, spend numeric,
    key_name text, litellm_created_at timestamptz, sync_fingerprint text
)
ON CONFLICT (server_id, token_hash) DO NOTHING
"""


def _insert_found(server: LiteLLMServer, infos: list[KeyInfo], now: datetime) -> None:
    """Adopt keys found only in LiteLLM. On PostgreSQL one INSERT ... SELECT from a JSON array
    per page: building 100 model instances and their SQL in Python cost more than downloading
    the page. ON CONFLICT makes two overlapping syncs harmless."""
    from django.db import connection

    if connection.vendor != "postgresql":
        rows = []
        for info in infos:
            row = VirtualKey(
                server=server, token_hash=info.token, origin=KeyOrigin.FOUND, status=KeyStatus.ACTIVE
            )
            key_apply_info(row, info, now=now)
            rows.append(row)
        VirtualKey.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        return
    payload = [
        {
            "token_hash": i.token,
            "key_alias": i.key_alias or "",
            "owner": i.user_id or "",
            "allowed_models": i.models,
            "max_budget": _decimal_text(i.max_budget, 4),
            "budget_duration": i.budget_duration or "",
            "soft_budget": _decimal_text(i.soft_budget, 4),
            "tpm_limit": i.tpm_limit,
            "rpm_limit": i.rpm_limit,
            "max_parallel_requests": i.max_parallel_requests,
            "expires": i.expires.isoformat() if i.expires else None,
            "metadata": i.metadata,
            "blocked": i.blocked,
            "spend": _decimal_text(i.spend, 6),
            "key_name": (i.key_name or "")[:20],
            "litellm_created_at": i.created_at.isoformat() if i.created_at else None,
            "sync_fingerprint": key_fingerprint(i),
        }
        for i in infos
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_FOUND_SQL,
            {
                "server": server.pk,
                "now": now,
                "origin": KeyOrigin.FOUND.value,
                "status": KeyStatus.ACTIVE.value,
                "rows": json.dumps(payload),
            },
        )


def _decimal_text(value: float | None, places: int) -> str | None:
    return None if value is None else str(_decimal(value, places))


def keys_sync(
    *, server: LiteLLMServer, client: LiteLLMClient | None = None, page_size: int = MAX_PAGE_SIZE
) -> SyncReport:
    """Bring the key rows in line with LiteLLM. Idempotent; costs ceil(keys / page_size) list
    calls and a few queries per page."""
    report = SyncReport()
    started = timezone.now()
    own_client = client is None
    active = client or client_for(server)
    try:
        seen: set[int] = set()
        for page in _pages(active, page_size, report):
            _sync_page(server, page.keys, started, report, seen)
        report.missing = _mark_missing(server, active, started, seen)
        deployments = active.model_info()
        added, _updated, removed = models_store(server=server, deployments=deployments, now=started)
        report.models_added, report.models_removed = added, removed
    finally:
        if own_client:
            active.close()
    server.keys_synced_at = started
    server.models_synced_at = started
    server.sync_status = f"{timezone.now():%Y-%m-%d %H:%M} UTC: {report}"
    server.save(update_fields=["keys_synced_at", "models_synced_at", "sync_status"])
    return report


def _mark_missing(server: LiteLLMServer, client: LiteLLMClient, started: datetime, seen: set[int]) -> int:
    # Only rows older than the sync's start: a key made during the sync may not be listed yet.
    rows = (
        VirtualKey.objects.filter(
            server=server,
            status=KeyStatus.ACTIVE,
            pending_action="",
            created_at__lt=started,
            token_hash__isnull=False,
        )
        .order_by()
        .values_list("pk", "token_hash")
    )
    candidates: list[tuple[int, str]] = []
    for pk, token_hash in rows.iterator(chunk_size=5000):
        if token_hash and _seen_mark(token_hash) not in seen:
            candidates.append((pk, token_hash))
            if len(candidates) >= MAX_MISSING_CONFIRMATIONS:
                break
    gone = []
    for pk, token_hash in candidates:
        found = client.key_find(token_hash=token_hash or "")
        if found is None:
            gone.append(pk)
            continue
        row = VirtualKey.objects.get(pk=pk)
        key_apply_info(row, found, now=started)
        row.save(update_fields=_SYNC_FIELDS)
    if gone:
        VirtualKey.objects.filter(pk__in=gone).update(status=KeyStatus.MISSING, last_synced_at=started)
    return len(gone)
