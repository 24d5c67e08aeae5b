"""The dashboard's read model: targets x networks from the state rows and the hourly rollups.

Six queries whatever the size of the history: networks, heartbeats, state rows (which carry
each cell's last checks for its heartbeat bar, see heartbeat.py), one aggregate over at most
7 x 24 rollup rows per cell, the last 24 hours' rollups for the sparklines, and the open
maintenance windows. CheckResult is never read here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from portal.connectivity.heartbeat import Heartbeat, heartbeat_of
from portal.connectivity.history import marks_path
from portal.connectivity.models import Expectation, HourlyRollup, MuteWindow, Network, State, TargetNetwork
from portal.connectivity.mutes import mute_for, mutes_active
from portal.connectivity.workers import WorkerStatus, worker_statuses

SPARK_WIDTH = 120
SPARK_HEIGHT = 24


@dataclass
class Cell:
    placement: TargetNetwork
    status: str  # up, down, failing, unknown, stale: the CSS class and the word shown
    uptime_24h: float | None
    uptime_7d: float | None
    spark_points: str  # SVG polyline points
    spark_failures: str  # one SVG path: a mark at each hour with failures
    latency_max_ms: float | None
    heartbeat: Heartbeat
    muted: MuteWindow | None = None  # changes here are recorded, not sent, until it ends
    # A target younger than a window says "since <date>", not "24 h" or "7 d" it never had.
    young_for_day: bool = False
    young_for_week: bool = False

    @property
    def shows_error(self) -> bool:
        """An up target does not carry its old error (failing, down, stale, unknown do)."""
        return bool(self.placement.last_error) and self.status != State.UP

    @property
    def expects_isolation(self) -> bool:
        return self.placement.expect == Expectation.UNREACHABLE


@dataclass
class Row:
    name: str
    target_id: int
    address: str
    created_at: datetime
    cells: list[Cell | None] = field(default_factory=list)


@dataclass
class Dashboard:
    networks: list[Network]
    workers: list[WorkerStatus]
    rows: list[Row]
    now: datetime
    mutes: list[MuteWindow] = field(default_factory=list)
    spark_width: int = SPARK_WIDTH
    spark_height: int = SPARK_HEIGHT


def dashboard_build(*, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    day_start = this_hour - timedelta(hours=23)
    week_start = this_hour - timedelta(hours=7 * 24 - 1)

    networks = list(Network.objects.order_by("name"))
    statuses = worker_statuses(networks=networks, now=now)
    mutes = mutes_active(now=now)
    placements = list(
        TargetNetwork.objects.filter(target__enabled=True)
        .select_related("target", "network")
        .order_by("target__name", "target_id", "network__name")
    )
    totals = {
        (r["target_id"], r["network_id"]): r
        for r in HourlyRollup.objects.filter(hour__gte=week_start)
        .values("target_id", "network_id")
        .annotate(
            checks_7d=Sum("checks"),
            failures_7d=Sum("failures"),
            checks_24h=Sum("checks", filter=Q(hour__gte=day_start)),
            failures_24h=Sum("failures", filter=Q(hour__gte=day_start)),
        )
        .order_by()
    }
    hours: dict[tuple[int, int], list[tuple[datetime, float | None, int]]] = defaultdict(list)
    for target_id, network_id, hour, latency_sum, latency_count, failures in (
        HourlyRollup.objects.filter(hour__gte=day_start)
        .order_by("hour")
        .values_list("target_id", "network_id", "hour", "latency_sum_ms", "latency_count", "failures")
    ):
        average = latency_sum / latency_count if latency_count else None
        hours[(target_id, network_id)].append((hour, average, failures))

    column = {n.pk: i for i, n in enumerate(networks)}
    rows: list[Row] = []
    for placement in placements:
        if not rows or rows[-1].target_id != placement.target_id:
            rows.append(
                Row(
                    name=placement.target.name,
                    target_id=placement.target_id,
                    address=placement.target.address,
                    created_at=placement.target.created_at,
                    cells=[None] * len(networks),
                )
            )
        key = (placement.target_id, placement.network_id)
        total = totals.get(key, {})
        points, failed_hours, latency_max = _sparkline(hours.get(key, []), day_start)
        rows[-1].cells[column[placement.network_id]] = Cell(
            placement=placement,
            status=_status(placement, statuses[placement.network_id]),
            uptime_24h=_ratio(total.get("checks_24h"), total.get("failures_24h")),
            uptime_7d=_ratio(total.get("checks_7d"), total.get("failures_7d")),
            spark_points=points,
            spark_failures=failed_hours,
            latency_max_ms=latency_max,
            heartbeat=heartbeat_of(placement.recent_checks),
            muted=mute_for(mutes, target_id=placement.target_id, network_id=placement.network_id),
            young_for_day=placement.target.created_at > day_start,
            young_for_week=placement.target.created_at > week_start,
        )
    workers = [statuses[n.pk] for n in networks]
    return Dashboard(networks=networks, workers=workers, rows=rows, now=now, mutes=mutes)


def _status(placement: TargetNetwork, worker: WorkerStatus) -> str:
    if worker.stale:
        return "stale"  # an old "up" from a network nobody probes any more is not up
    if placement.state == State.UP and placement.consecutive_failures:
        return "failing"
    return str(placement.state)


def _ratio(checks: int | None, failures: int | None) -> float | None:
    if not checks:
        return None
    return 100.0 * (checks - (failures or 0)) / checks


def _sparkline(
    hours: list[tuple[datetime, float | None, int]], day_start: datetime
) -> tuple[str, str, float | None]:
    latencies = [avg for _, avg, _ in hours if avg is not None]
    if len(hours) < 2:  # one hour is a dot, not a line: the heartbeat bar tells it better
        return "", "", (round(max(latencies), 1) if latencies else None)
    top = max(latencies) if latencies else 1.0
    top = top or 1.0
    step = SPARK_WIDTH / 23

    def x_of(hour: datetime) -> float:
        return round(((hour - day_start).total_seconds() / 3600) * step, 1)

    def y_of(value: float) -> float:
        return round(SPARK_HEIGHT - 2 - (value / top) * (SPARK_HEIGHT - 4), 1)

    points = " ".join(f"{x_of(h)},{y_of(avg)}" for h, avg, _ in hours if avg is not None)
    failures = marks_path(
        [x_of(h) for h, _, failed in hours if failed], top=SPARK_HEIGHT - 4, width=3, height=4
    )
    return points, failures, (round(max(latencies), 1) if latencies else None)
