"""Checks: sweep a network, record what was seen, move the states, raise alerts on a change.

The probing itself (probes, diagnosis, alternatives, sweep) is Django-free and lives next to
this module; here is what the portal does with it. A sweep runs on the network's own queue,
so everything probed goes out from inside that Docker network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from portal.connectivity.alerts import alert_raise
from portal.connectivity.certificates import certificate_check
from portal.connectivity.diagnosis import Diagnosis, DiagnosisKind, NetworkContext
from portal.connectivity.explain import Explained, Probe, explain_all
from portal.connectivity.heartbeat import heartbeat_append
from portal.connectivity.knowledge import network_knowledge
from portal.connectivity.models import (
    Alert,
    CheckResult,
    Expectation,
    HourlyRollup,
    Network,
    State,
    Target,
    TargetNetwork,
)
from portal.connectivity.probes import ErrorKind, ProbeOutcome
from portal.connectivity.vantage import already_told
from portal.connectivity.workers import worker_report
from portal.core.results import result_of


@dataclass
class CheckReport:
    placement_id: int
    target: str
    network: str
    ok: bool
    state: str
    summary: str
    fix: str
    latency_ms: float | None
    working_address: str = ""

    def as_task_result(self) -> dict[str, Any]:
        # Task results sit in the result backend: names, states and sentences only, no secrets.
        return result_of(self, leave_out=("placement_id",))


@dataclass
class SweepReport:
    network: str
    checked: int = 0
    failed: int = 0
    alerts: int = 0
    seconds: float = 0.0
    checks: list[CheckReport] = field(default_factory=list)


def network_context(
    *, network: Network, expect: str = Expectation.REACHABLE, here: bool = False
) -> NetworkContext:
    """Where a probe from `network` runs, knowing every network (knowledge.network_knowledge)."""
    context = network_knowledge(network=network, here=here).context
    return replace(context, expect_reachable=expect == Expectation.REACHABLE)


def network_sweep(*, network: Network, hostname: str = "", now: datetime | None = None) -> SweepReport:
    """Check every due target of `network` at once; record results, states and alerts.

    Due rows are claimed (next_check_at moved on) before probing, under SKIP LOCKED, so two
    workers on the same queue never check the same row twice.
    """
    now = now or timezone.now()
    started = timezone.now()
    worker_report(network=network, hostname=hostname)  # a sweep proves a worker, and says what it sees
    with transaction.atomic():
        due = list(
            TargetNetwork.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(network=network, target__enabled=True)
            .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
            .select_related("target")
            .order_by("id")
        )
        for placement in due:
            placement.next_check_at = now + timedelta(seconds=placement.target.interval_seconds)
        TargetNetwork.objects.bulk_update(due, ["next_check_at"])
    report = SweepReport(network=network.name)
    report.checks = placements_check(placements=due, network=network)
    report.checked = len(report.checks)
    report.failed = sum(1 for c in report.checks if not c.ok)
    report.seconds = (timezone.now() - started).total_seconds()
    return report


def target_check_now(*, target: Target, network: Network, here: bool = False) -> CheckReport:
    """ "Check now": one target from one network, whatever its schedule (`here`: run by a
    process that is not the network's worker, see explain.explain_all)."""
    placement = TargetNetwork.objects.select_related("target").get(target=target, network=network)
    placement.next_check_at = timezone.now() + timedelta(seconds=target.interval_seconds)
    placement.save(update_fields=["next_check_at"])
    return placements_check(placements=[placement], network=network, here=here)[0]


def placements_check(
    *, placements: Sequence[TargetNetwork], network: Network, here: bool = False
) -> list[CheckReport]:
    """Probe, diagnose and find for all `placements` at once (explain.explain_all), then record."""
    probes: list[Probe] = []
    probed: list[TargetNetwork] = []
    bad_addresses: dict[int, str] = {}
    for placement in placements:
        try:
            spec = placement.target.probe_spec()
        except ValueError as exc:
            bad_addresses[placement.pk] = str(exc)
            continue
        probed.append(placement)
        probes.append(
            Probe(
                spec,
                expect_reachable=placement.expect == Expectation.REACHABLE,
                service_names=tuple(placement.target.service_name_list),
                name=placement.target.name,
            )
        )
    explained = dict(
        zip([p.pk for p in probed], explain_all(probes, network=network, here=here), strict=True)
    )
    now = timezone.now()
    reports = []
    for placement in placements:
        found = explained.get(placement.pk)
        if found is None:
            outcome, diagnosis = _not_probed(placement, bad_addresses.get(placement.pk, "not probed"))
            found = Explained(network.name, outcome, diagnosis)
        reports.append(check_record(placement=placement, explained=found, now=now))
    return reports


def _not_probed(placement: TargetNetwork, reason: str) -> tuple[ProbeOutcome, Diagnosis]:
    outcome = ProbeOutcome(
        ok=False,
        target=placement.target.address,
        latency_ms=0.0,
        error_kind=ErrorKind.OTHER,
        detail=reason,
    )
    diagnosis = Diagnosis(
        DiagnosisKind.UNKNOWN,
        f"The address of {placement.target} cannot be probed: {outcome.detail}",
        "Fix the target's address in the admin.",
    )
    return outcome, diagnosis


def check_record(
    *, placement: TargetNetwork, explained: Explained, now: datetime | None = None
) -> CheckReport:
    """Store one check, fold it into the hourly rollup, move the state, alert on a change."""
    now = now or timezone.now()
    outcome, diagnosis = explained.outcome, explained.diagnosis
    ok = diagnosis.healthy
    tried = [
        {
            "address": spec.target,
            "ok": alt.ok,
            "latency_ms": round(alt.latency_ms, 1),
            "error_kind": alt.error_kind.value if alt.error_kind else "",
            "detail": alt.detail[:300],
        }
        for spec, alt in explained.tried
    ]
    answered = next((t for t in tried if t["ok"]), None)
    working = str(answered["address"]) if answered else ""
    fix = explained.fix
    latency = round(outcome.latency_ms, 1) if outcome.ok else None

    with transaction.atomic():
        CheckResult.objects.create(
            target_id=placement.target_id,
            network_id=placement.network_id,
            ok=ok,
            answered=outcome.ok,
            latency_ms=round(outcome.latency_ms, 1),
            resolved_addresses=list(outcome.resolved_addresses),
            http_status=outcome.http_status,
            error_kind=outcome.error_kind.value if outcome.error_kind else "",
            phase=outcome.phase.value if outcome.phase else "",
            detail=outcome.detail[:2000],
            diagnosis_kind=diagnosis.kind.value,
            diagnosis="" if ok else diagnosis.summary,
            suggested_fix="" if ok else fix,
            tls_days_left=outcome.tls_days_left,
            alternatives=tried,
            checked_at=now,
        )
        rollup_add(
            target_id=placement.target_id, network_id=placement.network_id, at=now, ok=ok, latency_ms=latency
        )
        # Lock the state row: a "Check now" and a sweep may finish at the same moment.
        current = (
            TargetNetwork.objects.select_for_update().select_related("target", "network").get(pk=placement.pk)
        )
        down_since = current.since if current.state == State.DOWN else None
        change = _state_apply(current, ok=ok, now=now)
        current.last_checked_at = now
        current.last_ok = ok
        current.last_latency_ms = latency
        current.recent_checks = heartbeat_append(current.recent_checks, at=now, ok=ok, latency_ms=latency)
        if outcome.tls_days_left is not None:
            current.last_tls_days_left = outcome.tls_days_left
        if not ok:
            current.last_error_at = now
            current.last_error_kind = outcome.error_kind.value if outcome.error_kind else diagnosis.kind.value
            current.last_error = diagnosis.summary
            current.last_fix = fix
            current.last_working_address = working
        current.save(
            update_fields=[
                "state",
                "since",
                "consecutive_failures",
                "last_checked_at",
                "last_ok",
                "last_latency_ms",
                "last_error_at",
                "last_error_kind",
                "last_error",
                "last_fix",
                "last_working_address",
                "last_tls_days_left",
                "recent_checks",
            ]
        )
        certificate_check(
            placement=current, days_left=outcome.tls_days_left, fingerprint=outcome.tls_fingerprint, now=now
        )
        if change is not None:
            alert_raise(
                kind=change,
                network=current.network,
                target=current.target,
                message=_state_message(current, change, diagnosis.summary, fix),
                now=now,
                not_sent_because=already_told(placement=current, kind=change, down_since=down_since),
            )
    return CheckReport(
        placement_id=current.pk,
        target=current.target.name,
        network=current.network.name,
        ok=ok,
        state=current.state,
        summary=diagnosis.summary,
        fix="" if ok else fix,
        latency_ms=latency,
        working_address=working,
    )


def _state_apply(placement: TargetNetwork, *, ok: bool, now: datetime) -> str | None:
    """Move the state; return the alert kind when it changed in a way people hear about.

    Down needs `failure_threshold` consecutive failures (no flapping); one success is up.
    A first "up" is not news; a first "down" is.
    """
    previous = placement.state
    if ok:
        placement.consecutive_failures = 0
        if previous != State.UP:
            placement.state, placement.since = State.UP, now
            return Alert.Kind.UP if previous == State.DOWN else None
        return None
    placement.consecutive_failures += 1
    if previous != State.DOWN and placement.consecutive_failures >= placement.target.failure_threshold:
        placement.state, placement.since = State.DOWN, now
        return Alert.Kind.DOWN
    if previous == State.UNKNOWN and placement.since is None:
        placement.since = now
    return None


def _state_message(placement: TargetNetwork, kind: str, summary: str, fix: str) -> str:
    who = f"{placement.target.name} from {placement.network.name}"
    if kind == Alert.Kind.UP:
        if placement.expect == Expectation.UNREACHABLE:
            return f"{who}: isolated again (not reachable, as required)."
        return f"{who} is back UP."
    if placement.expect == Expectation.UNREACHABLE:
        return f"{who}: REACHABLE where it must not be. {summary} Fix: {fix}"
    return f"{who} is DOWN after {placement.consecutive_failures} failed checks: {summary}" + (
        f" Fix: {fix}" if fix else ""
    )


def rollup_add(*, target_id: int, network_id: int, at: datetime, ok: bool, latency_ms: float | None) -> None:
    """Add one check to its hour, atomically (INSERT ... ON CONFLICT: PostgreSQL and SQLite)."""
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    table = connection.ops.quote_name(HourlyRollup._meta.db_table)
    sql = (
        f"INSERT INTO {table} (target_id, network_id, hour, checks, failures, latency_sum_ms, latency_count) "  # noqa: S608 -- table name from the model, values bound
        "VALUES (%s, %s, %s, 1, %s, %s, %s) "
        "ON CONFLICT (target_id, network_id, hour) DO UPDATE SET "
        f"checks = {table}.checks + 1, failures = {table}.failures + EXCLUDED.failures, "
        f"latency_sum_ms = {table}.latency_sum_ms + EXCLUDED.latency_sum_ms, "
        f"latency_count = {table}.latency_count + EXCLUDED.latency_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                target_id,
                network_id,
                connection.ops.adapt_datetimefield_value(hour),
                0 if ok else 1,
                latency_ms or 0.0,
                1 if latency_ms is not None else 0,
            ],
        )
