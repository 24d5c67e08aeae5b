"""Reconcile the three stores of people's keys: the portal, LiteLLM and LibreChat.

LiteLLM is read page by page (/key/list, full objects, 100 a page: ceil(keys / 100) calls),
never once per person; the portal side is a handful of queries whatever the number of people.
LibreChat has no listing of user keys (contract "/api/keys" is per user), so its side is
checked by re-verifying a batch of people per run through the normal steps (verify_chat puts a
missing key back), oldest check first, and by the expiry LibreChat reported last time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.litellm import key_records, keys
from integrations.litellm.models import KeyStatus
from portal.access import personal_keys
from portal.access.models import DriftFinding, DriftKind, Pairing, PersonalKey, PersonalKeyStep
from portal.core.queues import network_queue_name, wake
from portal.core.work import ENQUEUE_LEASE

log = logging.getLogger(__name__)

# People whose LibreChat key is re-checked per run (each check is two calls as the person).
CHAT_CHECKS_PER_RUN = 100
CHAT_RECHECK_AFTER = dt.timedelta(days=1)
# Keys the listing lacks are confirmed one by one (a key deleted during the listing shifts
# later pages); past this many the rest wait for the next run.
MAX_MISSING_CONFIRMATIONS = 200
# Fixed findings stay this long for the record, then go.
KEEP_FIXED_FINDINGS = dt.timedelta(days=30)
SAFE_KINDS = frozenset(
    {
        DriftKind.PERSON_WITHOUT_KEY,
        DriftKind.KEY_MISSING,
        DriftKind.CHAT_KEY_EXPIRED,
        DriftKind.CHAT_KEY_MISSING,
        DriftKind.ACTIVE_BUT_SUSPENDED,
    }
)


@dataclass
class ReconcileReport:
    pairing_id: int
    list_calls: int = 0
    info_calls: int = 0
    keys_listed: int = 0
    people: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    repaired: int = 0
    rechecks: int = 0

    def as_result(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __str__(self) -> str:
        found = ", ".join(f"{n} {k}" for k, n in sorted(self.findings.items())) or "no drift"
        return (
            f"{self.people} people, {self.keys_listed} LiteLLM keys read in {self.list_calls} list calls: "
            f"{found}; {self.repaired} repaired, {self.rechecks} LibreChat rechecks started"
        )


@dataclass(frozen=True)
class _Listed:
    blocked: bool
    person_id: Any
    ours: bool


def _list_keys(inventory: key_records.KeyInventory, report: ReconcileReport) -> dict[str, _Listed]:
    listed: dict[str, _Listed] = {}
    for key in inventory.all_keys():
        marker = key.metadata.get(personal_keys.PERSON_MARKER)
        listed[key.token_hash] = _Listed(
            blocked=key.blocked, person_id=marker, ours=key.managed_by_portal and marker is not None
        )
    report.list_calls = inventory.list_calls
    report.keys_listed = len(listed)
    return listed


def pairing_reconcile(*, pairing_id: int, repair: bool = False) -> ReconcileReport:
    """Find drift for one pairing and record it as findings (replacing the open ones). With
    repair, fix what is safe to fix (SAFE_KINDS) and leave the rest for staff."""
    pairing = Pairing.objects.select_related("litellm_server", "librechat_server").get(pk=pairing_id)
    report = ReconcileReport(pairing_id=pairing.pk)
    now = timezone.now()
    with key_records.KeyInventory(pairing.litellm_server) as inventory:
        listed = _list_keys(inventory, report)
        findings = _compare(pairing, listed, inventory, report, now)
    with transaction.atomic():
        DriftFinding.objects.filter(pairing=pairing, fixed_at__isnull=True).delete()
        DriftFinding.objects.filter(pairing=pairing, fixed_at__lt=now - KEEP_FIXED_FINDINGS).delete()
        DriftFinding.objects.bulk_create(findings, batch_size=1000)
    for finding in findings:
        report.findings[finding.kind] = report.findings.get(finding.kind, 0) + 1
    if repair:
        for finding in DriftFinding.objects.filter(
            pairing=pairing, fixed_at__isnull=True, safe_to_repair=True
        ):
            drift_fix(finding_id=finding.pk)
            report.repaired += 1
        report.rechecks = _chat_rechecks(pairing, now)
    log.info("reconcile of %s: %s", pairing, report)
    return report


def _compare(
    pairing: Pairing,
    listed: dict[str, _Listed],
    inventory: key_records.KeyInventory,
    report: ReconcileReport,
    now: dt.datetime,
) -> list[DriftFinding]:
    findings: list[DriftFinding] = []

    def found(kind: str, *, person_id: int | None = None, token_hash: str = "", detail: str = "") -> None:
        findings.append(
            DriftFinding(
                pairing=pairing,
                kind=kind,
                person_id=person_id,
                token_hash=token_hash,
                detail=detail,
                safe_to_repair=kind in SAFE_KINDS,
                found_at=now,
            )
        )

    # Every key row of every person on this LiteLLM server (other pairings share the server).
    held = set(
        h
        for pair in PersonalKey.objects.filter(pairing__litellm_server=pairing.litellm_server).values_list(
            "key__token_hash", "key__rotation_old_hash"
        )
        for h in pair
        if h
    )
    for token_hash, seen in listed.items():
        if seen.ours and token_hash not in held:
            found(
                DriftKind.ORPHAN_KEY,
                token_hash=token_hash,
                detail=f"LiteLLM holds a key the portal made for person #{seen.person_id}, and no person's key names it",
            )
    rows = PersonalKey.objects.filter(pairing=pairing).values_list(
        "person_id",
        "person__is_active",
        "suspended",
        "step",
        "key__token_hash",
        "key__status",
        "chat_expires_at",
    )
    missing: list[tuple[int, str]] = []
    for person_id, is_active, suspended, step, held_hash, key_status, chat_expires in rows.iterator(
        chunk_size=2000
    ):
        report.people += 1
        if not held_hash or step in personal_keys.FIRST_ISSUE_STEPS or step in personal_keys.ROTATION_STEPS:
            continue  # being issued or rotated: the steps own it now
        token_hash = str(held_hash)
        row_seen = listed.get(token_hash)
        if row_seen is None:
            if key_status != KeyStatus.DELETED:
                missing.append((person_id, token_hash))
            continue
        if row_seen.blocked and is_active and not suspended:
            found(
                DriftKind.BLOCKED_BUT_ACTIVE,
                person_id=person_id,
                token_hash=token_hash,
                detail="Blocked in LiteLLM while the person is active in the portal (blocked by hand?)",
            )
        elif not row_seen.blocked and (suspended or not is_active):
            found(
                DriftKind.ACTIVE_BUT_SUSPENDED,
                person_id=person_id,
                token_hash=token_hash,
                detail="Usable in LiteLLM while the person is suspended in the portal",
            )
        when = parse_datetime(chat_expires) if chat_expires and chat_expires != "never" else None
        if when is not None and when <= now:
            found(
                DriftKind.CHAT_KEY_EXPIRED,
                person_id=person_id,
                token_hash=token_hash,
                detail=f"LibreChat's copy of the key expired on {when:%Y-%m-%d %H:%M} UTC",
            )
    for person_id, token_hash in missing[:MAX_MISSING_CONFIRMATIONS]:
        report.info_calls += 1
        if not inventory.has_key(token_hash=token_hash):
            found(
                DriftKind.KEY_MISSING,
                person_id=person_id,
                token_hash=token_hash,
                detail="The portal holds this key, LiteLLM does not have it",
            )
    without = (
        LibreChatAccount.objects.filter(
            server=pairing.librechat_server,
            status=AccountStatus.READY,
            person__is_active=True,
            person__personal_key__isnull=True,
        )
        .values_list("person_id", flat=True)
        .iterator(chunk_size=2000)
    )
    for person_id in without:
        found(
            DriftKind.PERSON_WITHOUT_KEY, person_id=person_id, detail="LibreChat account ready, no key issued"
        )
    return findings


def _chat_rechecks(pairing: Pairing, now: dt.datetime) -> int:
    """Re-verify LibreChat's copy for the people checked longest ago (verify_chat puts a missing
    or wrong key back, then verify_key checks LiteLLM)."""
    ids = list(
        PersonalKey.objects.filter(pairing=pairing, step="", suspended=False, key__isnull=False)
        .filter(Q(verified_at__lt=now - CHAT_RECHECK_AFTER) | Q(verified_at__isnull=True))
        .order_by("verified_at")
        .values_list("pk", flat=True)[:CHAT_CHECKS_PER_RUN]
    )
    started = 0
    for record_id in ids:
        with transaction.atomic():
            updated = PersonalKey.objects.filter(pk=record_id, step="").update(
                step=PersonalKeyStep.VERIFY_CHAT,
                attempts=0,
                next_attempt_at=now + ENQUEUE_LEASE,
            )
            if updated:
                personal_keys.personal_key_enqueue(
                    PersonalKey.objects.select_related("pairing__librechat_server").get(pk=record_id)
                )
                started += 1
    return started


# --- fixes ------------------------------------------------------------------------------------


def drift_fix(*, finding_id: int) -> str:
    """The one-click fix of a finding: records the work; steps and LiteLLM's tasks do the calls."""
    finding = DriftFinding.objects.select_related("pairing__litellm_server").filter(pk=finding_id).first()
    if finding is None:
        return "no such finding"
    if finding.fixed_at is not None:
        return finding.fix_outcome
    with transaction.atomic():
        outcome = _FIXES[DriftKind(finding.kind)](finding)
        finding.fixed_at = timezone.now()
        finding.fix_outcome = outcome
        finding.save(update_fields=["fixed_at", "fix_outcome"])
    return outcome


def _record_of(finding: DriftFinding) -> PersonalKey | None:
    if finding.person_id is None:
        return None
    return PersonalKey.objects.select_related("person").filter(person_id=finding.person_id).first()


def _fix_orphan(finding: DriftFinding) -> str:
    server = finding.pairing.litellm_server
    key = key_records.key_found_record(server=server, token_hash=finding.token_hash)
    if key.pending_action:
        return f"not now: {key.get_pending_action_display()} is pending on the key"
    keys.key_delete(key=key)
    return "deletion in LiteLLM requested"


def _fix_person_without_key(finding: DriftFinding) -> str:
    from portal.accounts.models import User

    person = User.objects.filter(pk=finding.person_id).first() if finding.person_id else None
    if person is None:
        return "the person is gone"
    record = personal_keys.personal_key_start(person=person)
    return "key issue started" if record is not None else "not started: the LibreChat account is not ready"


def _fix_key_missing(finding: DriftFinding) -> str:
    record = _record_of(finding)
    if record is None or record.key_id is None:
        return "the person has no key record"
    key_records.key_missing_record(key_id=record.key_id, token_hash=finding.token_hash)
    updated = PersonalKey.objects.filter(pk=record.pk, step="", key__token_hash=finding.token_hash).update(
        key=None,
        step=PersonalKeyStep.ISSUE,
        attempts=0,
        next_attempt_at=timezone.now() + ENQUEUE_LEASE,
    )
    if not updated:
        return "not now: the person's key is being worked on"
    record.refresh_from_db()
    personal_keys.personal_key_enqueue(record)
    return "a new key is being issued"


def _fix_chat(finding: DriftFinding) -> str:
    record = _record_of(finding)
    if record is None:
        return "the person has no key record"
    # An expired copy is an expired key: only a new key (rotation) helps.
    try:
        personal_keys.personal_key_rotate(record=record)
    except personal_keys.RotationRefused as exc:
        return f"not rotated: {exc}"
    return "rotation requested"


def _fix_blocked(finding: DriftFinding, *, blocked_in_litellm: bool) -> str:
    record = _record_of(finding)
    if record is None:
        return "the person has no key record"
    if record.key_id is None:
        return "the person has no key yet"
    # The row learns what LiteLLM holds; the desired state then asks for the other.
    key_records.key_blocked_record(key_id=record.key_id, blocked=blocked_in_litellm)
    if not blocked_in_litellm and not record.person.is_active:
        PersonalKey.objects.filter(pk=record.pk).update(suspended=True)
    started = personal_keys.personal_key_kick(record=record)
    return ("unblock" if blocked_in_litellm else "block") + (
        " started" if started else " queued behind the current step"
    )


_FIXES = {
    DriftKind.ORPHAN_KEY: _fix_orphan,
    DriftKind.PERSON_WITHOUT_KEY: _fix_person_without_key,
    DriftKind.KEY_MISSING: _fix_key_missing,
    DriftKind.CHAT_KEY_MISSING: _fix_chat,
    DriftKind.CHAT_KEY_EXPIRED: _fix_chat,
    DriftKind.BLOCKED_BUT_ACTIVE: lambda f: _fix_blocked(f, blocked_in_litellm=True),
    DriftKind.ACTIVE_BUT_SUSPENDED: lambda f: _fix_blocked(f, blocked_in_litellm=False),
}


def pairings_reconcile_dispatch() -> int:
    pairings = list(Pairing.objects.select_related("litellm_server"))
    for pairing in pairings:
        wake(
            "access.pairing_reconcile",
            kwargs={"pairing_id": pairing.pk, "repair": True},
            queue=network_queue_name(pairing.litellm_server.network),
        )
    return len(pairings)
