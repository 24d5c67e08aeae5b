"""Bringing the key rows in line with LiteLLM: the paged listing, adoption of keys found only
in LiteLLM, keys gone missing, and the copy of what LiteLLM holds onto a row.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.litellm.budget_alerts import budget_alerts_check
from integrations.litellm.client import (
    MAX_PAGE_SIZE,
    KeyInfo,
    KeyPage,
    LiteLLMClient,
)
from integrations.litellm.drift import ALL_LIMITS, drift_take_answer
from integrations.litellm.keys import MANAGED_BY
from integrations.litellm.limits import ROW_FIELDS, KeyLimits, decimal_or_none
from integrations.litellm.models import (
    KeyAction,
    KeyOrigin,
    KeyStatus,
    LiteLLMServer,
    VirtualKey,
)
from integrations.litellm.servers import client_for, models_store
from integrations.litellm.spend_recording import RECORDED_FIELDS, spend_record_applied

log = logging.getLogger(__name__)

# Keys missing from a sync listing are confirmed one by one (a key deleted during the sync
# shifts later pages, so a listing alone can skip a live key); past this many the rest wait
# for the next sync.
MAX_MISSING_CONFIRMATIONS = 200


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
        info.last_active.isoformat() if info.last_active else None,
    )
    # repr, not json.dumps: half the cost, and stable for the JSON-born values in `parts`.
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def key_apply_info(
    key: VirtualKey,
    info: KeyInfo,
    *,
    now: datetime | None = None,
    told: Collection[str] = ALL_LIMITS,
) -> bool:
    """Copy what LiteLLM holds onto the row. Returns True when a field changed.

    `told`: the limits (row names) LiteLLM was just given by the portal; by default all (a
    create, a rotation). The sync tells nothing: a key we made keeps our other limits and a
    difference is recorded as drift (integrations.litellm.drift)."""
    now = now or timezone.now()
    before = {name: getattr(key, name) for name in _DRIFT_AND_LIMITS}
    drift_take_answer(key, KeyLimits.from_info(info), told=told, now=now)
    changed = any(before[name] != getattr(key, name) for name in _DRIFT_AND_LIMITS)
    values: dict[str, Any] = {
        "key_alias": info.key_alias or "",
        "owner": info.user_id or "",
        "expires": info.expires,
        "metadata": info.metadata,
        "blocked": info.blocked,
        "spend": decimal_or_none(info.spend, places=6) or Decimal(0),
    }
    if info.budget_reset_at is not None or not info.budget_duration:
        # /key/generate does not echo the reset date (GenerateKeyResponse has no such field):
        # /key/info and /key/list do, so a create keeps the row's until the next read.
        values["budget_reset_at"] = info.budget_reset_at
    if info.last_active is not None and (key.last_used_at is None or info.last_active > key.last_used_at):
        # Never back to "never": a rotation's replacement starts unused (models.VirtualKey).
        values["last_used_at"] = info.last_active
    if info.key_name:
        values["key_name"] = info.key_name[:20]
    if info.created_at:
        values["litellm_created_at"] = info.created_at
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
    key.last_synced_at = now
    return changed


_DRIFT_AND_LIMITS = (*ROW_FIELDS, "drift_limits", "drift_found_at")


@dataclass
class SyncReport:
    list_calls: int = 0
    seen: int = 0
    adopted: int = 0
    updated: int = 0
    missing: int = 0
    drifted: int = 0  # keys we made found with other limits in LiteLLM than ours (drift)
    models_added: int = 0
    models_removed: int = 0

    def as_result(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return (
            f"{self.seen} keys seen in {self.list_calls} list calls: {self.adopted} adopted, "
            f"{self.updated} updated, {self.missing} missing, {self.drifted} with limits changed in LiteLLM; "
            f"models +{self.models_added} -{self.models_removed}"
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
    *ROW_FIELDS,
    "expires",
    "metadata",
    "blocked",
    "spend",
    "key_name",
    "litellm_created_at",
    "status",
    "last_synced_at",
    "sync_fingerprint",
    "last_used_at",
    "drift_limits",
    "drift_found_at",
    "budget_reset_at",  # a reset moves it: spend history tells a reset by it (spend_history.py)
]


def _seen_mark(token_hash: str) -> int:
    # 64 bits of the hash: a set of a million of these is ~40 MB, and a collision could only
    # delay marking one key missing until the next sync.
    return int(token_hash[:16], 16) if len(token_hash) >= 16 else hash(token_hash)


def _in_flight(pending_action: str, rotation_step: str) -> bool:
    """A row the sync leaves alone: LiteLLM is being told something, or a rotation is not
    finished (at "handover" nothing is pending, but the row names a key with a temporary alias)."""
    return pending_action in (KeyAction.CREATE, KeyAction.ROTATE, KeyAction.DELETE) or bool(rotation_step)


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
            "pk",
            "token_hash",
            "sync_fingerprint",
            "pending_action",
            "rotation_step",
            "status",
            "spend",
            "spend_recorded",
        )
    )
    known = {token for _, token, *_ in narrow}
    stale = [
        pk
        for pk, token, fingerprint, pending, rotation_step, status, spend, recorded in narrow
        # Spend not yet in the history (a rotation or an action refreshed it since) also counts.
        if fingerprint != fingerprints.get(token or "") or status != KeyStatus.ACTIVE or spend != recorded
        if not _in_flight(pending, rotation_step)
    ]
    existing = (
        {
            row.token_hash: row
            for row in VirtualKey.objects.filter(pk__in=stale).only(
                "token_hash",
                "pending_action",
                "rotation_step",
                "last_action_at",
                "origin",
                "rotation_swap_spend",  # read by drift: deferred, it cost a query per key
                *_SYNC_FIELDS,
                *RECORDED_FIELDS,
            )
        }
        if stale
        else {}
    )
    # Keys the portal made whose row does not name them (a rotation's replacement in flight,
    # or the key it replaces while waiting for the hand-over) carry our marker with the row
    # id: never adopt those as strangers.
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
    applied: list[VirtualKey] = []
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
        if _in_flight(row.pending_action, row.rotation_step):
            continue
        if row.last_action_at is not None and row.last_action_at >= started:
            # LiteLLM was told something after this page was listed: the page is older than
            # the row, and comparing them would report our own change as drift.
            continue
        # Unchanged rows are not written at all: rewriting 10,000 rows (and their indexes)
        # to stamp "seen" cost more than downloading them; `seen` records it in memory.
        drifted_before = row.drift_found_at is not None
        applied.append(row)
        if key_apply_info(row, info, now=started, told=()):
            changed.append(row)
            report.drifted += row.drift_found_at is not None and not drifted_before
    with transaction.atomic():
        if new:
            _insert_found(server, new, started)
        if changed:
            VirtualKey.objects.bulk_update(changed, _SYNC_FIELDS, batch_size=500)
        spend_record_applied(applied, at=started)
        budget_alerts_check(applied, now=started)  # the thresholds the saved spend reached
    report.seen += len(keys)
    report.adopted += len(new)
    report.updated += len(changed)


_INSERT_FOUND_SQL = """
INSERT INTO litellm_virtualkey (
    server_id, token_hash, key_alias, owner, allowed_models, max_budget, budget_duration, soft_budget,
    tpm_limit, rpm_limit, max_parallel_requests, expires, metadata, blocked, spend, key_name,
    litellm_created_at, sync_fingerprint, last_synced_at, keep_secret, handed_on, origin, status, pending_action, pending_changes,
    attempts, rotation_step, rotation_old_hash, last_action, last_action_detail, created_at, updated_at,
    last_used_at, drift_limits, spend_recorded
)
SELECT %(server)s, r.token_hash, r.key_alias, r.owner, r.allowed_models, r.max_budget, r.budget_duration,
    r.soft_budget, r.tpm_limit, r.rpm_limit, r.max_parallel_requests, r.expires, r.metadata, r.blocked,
    r.spend, r.key_name, r.litellm_created_at, r.sync_fingerprint, %(now)s, false, false, %(origin)s, %(status)s, '', '{}'::jsonb,
    0, '', '', '', '', %(now)s, %(now)s, r.last_used_at, '{}'::jsonb, r.spend
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
    token_hash text, key_alias text, owner text, allowed_models jsonb, max_budget numeric,
    budget_duration text, soft_budget numeric, tpm_limit integer, rpm_limit integer,
    max_parallel_requests integer, expires timestamptz, metadata jsonb, blocked boolean, spend numeric,
    key_name text, litellm_created_at timestamptz, sync_fingerprint text, last_used_at timestamptz
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
            row.spend_recorded = row.spend  # its spend so far is its history's baseline
            rows.append(row)
        VirtualKey.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        return
    payload = [
        {
            "token_hash": i.token,
            "key_alias": i.key_alias or "",
            "owner": i.user_id or "",
            **_json_values(KeyLimits.from_info(i).row_values()),
            "expires": i.expires.isoformat() if i.expires else None,
            "metadata": i.metadata,
            "blocked": i.blocked,
            "spend": _json_values({"spend": decimal_or_none(i.spend, places=6)})["spend"],
            "key_name": (i.key_name or "")[:20],
            "litellm_created_at": i.created_at.isoformat() if i.created_at else None,
            "sync_fingerprint": key_fingerprint(i),
            "last_used_at": i.last_active.isoformat() if i.last_active else None,
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


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    # Decimals as their exact text: PostgreSQL's numeric reads it without a float's rounding.
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in values.items()}


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
            rotation_step="",
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
        key_apply_info(row, found, now=started, told=())
        row.save(update_fields=_SYNC_FIELDS)
    if gone:
        VirtualKey.objects.filter(pk__in=gone).update(status=KeyStatus.MISSING, last_synced_at=started)
    return len(gone)
