"""A target's history for its page: uptime over 24 h / 7 d / 30 d / 90 d and latency over the
last 7 days per network, from the hourly rollups (kept CONNECTIVITY_KEEP_ROLLUPS_DAYS, 91 by
default, see retention.py). Three queries whatever the size of the history; CheckResult is
never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from portal.connectivity.models import HourlyRollup, Target, TargetNetwork

WINDOWS = ((1, "24 h"), (7, "7 d"), (30, "30 d"), (90, "90 d"))
DEFAULT_KEEP_ROLLUPS_DAYS = 91
CHART_DAYS = 7
CHART_WIDTH, CHART_HEIGHT = 960, 180
CHART_LEFT, CHART_BOTTOM = 48, 18  # room for the axis labels
# One colour per network column, in order; readable on white and apart from the failure red.
COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00")


@dataclass
class Uptime:
    label: str  # "24 h", "7 d", or "since 2026-11-30" for a target younger than the window
    percent: float | None
    checks: int


@dataclass
class NetworkHistory:
    name: str
    colour: str
    uptimes: list[Uptime]
    lines: list[str]  # SVG polyline points, one per run of hours with a latency
    failed_x: list[float]  # hours with a failure, as x positions on the chart
    failed_path: str  # the same as one SVG path: one element, however many hours failed
    latency_avg_ms: float | None
    latency_max_ms: float | None


@dataclass
class TargetHistory:
    networks: list[NetworkHistory]
    windows: list[str]  # the column headings: "24 h", ... or "since <date>" for the last one
    top_ms: float  # the chart's y axis top
    day_ticks: list[tuple[float, str]]  # (x, "12-01") at each midnight on the chart
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    plot_bottom: int = CHART_HEIGHT - CHART_BOTTOM
    keep_days: int = DEFAULT_KEEP_ROLLUPS_DAYS
    summary: str = ""


def keep_rollups_days() -> int:
    return int(getattr(settings, "CONNECTIVITY_KEEP_ROLLUPS_DAYS", DEFAULT_KEEP_ROLLUPS_DAYS))


def target_history(*, target: Target, now: datetime | None = None) -> TargetHistory:
    now = now or timezone.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    # Windows end with the current hour, as the dashboard's: 24 h is the last 24 hourly rows.
    windows = [(days, label, this_hour - timedelta(hours=days * 24 - 1)) for days, label in WINDOWS]
    windows = [w for w in windows if w[0] <= keep_rollups_days()]  # never a window with no rows kept
    chart_start = this_hour - timedelta(hours=CHART_DAYS * 24 - 1)
    oldest = windows[-1][2] if windows else chart_start

    placements = list(
        TargetNetwork.objects.filter(target=target).select_related("network").order_by("network__name")
    )
    sums = {}
    for days, _label, start in windows:
        sums[f"checks_{days}"] = Sum("checks", filter=Q(hour__gte=start))
        sums[f"failures_{days}"] = Sum("failures", filter=Q(hour__gte=start))
    # Only the networks it is placed on: a removed placement's rollups stay until retention
    # prunes them, and would otherwise set the chart's scale for lines it no longer draws.
    rollups = HourlyRollup.objects.filter(target=target, network_id__in=[p.network_id for p in placements])
    totals = {
        row["network_id"]: row
        for row in rollups.filter(hour__gte=oldest).values("network_id").annotate(**sums).order_by()
    }
    hours: dict[int, list[tuple[datetime, float | None, int]]] = {}
    for network_id, hour, latency_sum, latency_count, failures in (
        rollups.filter(hour__gte=chart_start)
        .order_by("hour")
        .values_list("network_id", "hour", "latency_sum_ms", "latency_count", "failures")
    ):
        average = latency_sum / latency_count if latency_count else None
        hours.setdefault(network_id, []).append((hour, average, failures))

    latencies = [avg for rows in hours.values() for _, avg, _ in rows if avg is not None]
    top = _nice_top(max(latencies) if latencies else 0.0)
    chart = _Chart(start=chart_start, top=top)
    networks = []
    for index, placement in enumerate(placements):
        total = totals.get(placement.network_id, {})
        rows = hours.get(placement.network_id, [])
        values = [avg for _, avg, _ in rows if avg is not None]
        networks.append(
            NetworkHistory(
                name=placement.network.name,
                colour=COLOURS[index % len(COLOURS)],
                uptimes=_uptimes(windows, total, target.created_at),
                lines=chart.lines(rows),
                failed_x=(failed := [chart.x(hour) for hour, _, failures in rows if failures]),
                failed_path=marks_path(failed, top=CHART_HEIGHT - CHART_BOTTOM - 10, width=3, height=10),
                latency_avg_ms=round(sum(values) / len(values), 1) if values else None,
                latency_max_ms=round(max(values), 1) if values else None,
            )
        )
    history = TargetHistory(
        networks=networks,
        # The same for every network: the windows come from the target's age, not the network's.
        windows=[u.label for u in networks[0].uptimes] if networks else [],
        top_ms=top,
        day_ticks=chart.day_ticks(),
        keep_days=keep_rollups_days(),
    )
    history.summary = _summary(networks)
    return history


def _uptimes(
    windows: list[tuple[int, str, datetime]], total: dict[str, int], created_at: datetime
) -> list[Uptime]:
    """One figure per window; a target younger than a window gets one "since <date>" figure
    instead, and none for the longer windows (a 2-day-old target has no 90 d uptime)."""
    uptimes = []
    for days, label, start in windows:
        checks, failures = total.get(f"checks_{days}") or 0, total.get(f"failures_{days}") or 0
        percent = 100.0 * (checks - failures) / checks if checks else None
        if created_at > start:
            uptimes.append(Uptime(f"since {created_at:%Y-%m-%d %H:%M}", percent, checks))
            break
        uptimes.append(Uptime(label, percent, checks))
    return uptimes


def _summary(networks: list[NetworkHistory]) -> str:
    """The chart in one sentence per network, for whoever does not see it."""
    parts = []
    for n in networks:
        if n.latency_avg_ms is None:
            parts.append(f"{n.name}: no latency measured in the last {CHART_DAYS} days")
        else:
            failed = f", failures in {len(n.failed_x)} hours" if n.failed_x else ", no failures"
            parts.append(
                f"{n.name}: hourly average {n.latency_avg_ms} ms, at most {n.latency_max_ms} ms{failed}"
            )
    return f"Latency over the last {CHART_DAYS} days. " + "; ".join(parts) + "." if parts else ""


def marks_path(xs: list[float], *, top: float, width: float, height: float) -> str:
    """Rectangles centred on each x as ONE path's `d`: a chart with a failure in every hour of
    a week (or a dashboard of 400 cells) draws one element each, not one per hour."""
    return "".join(f"M{round(x - width / 2, 1)},{top}h{width}v{height}h-{width}z" for x in xs)


def _nice_top(value: float) -> float:
    """The y axis top: the first 1, 2 or 5 x 10^n at or above the highest average (never 0)."""
    magnitude = 1.0
    while True:
        for step in (1, 2, 5):
            if magnitude * step >= value:
                return magnitude * step
        magnitude *= 10


@dataclass
class _Chart:
    start: datetime
    top: float

    @property
    def step(self) -> float:
        return (CHART_WIDTH - CHART_LEFT) / (CHART_DAYS * 24 - 1)

    def x(self, hour: datetime) -> float:
        return round(CHART_LEFT + (hour - self.start).total_seconds() / 3600 * self.step, 1)

    def y(self, value: float) -> float:
        plot = CHART_HEIGHT - CHART_BOTTOM - 4
        return round(CHART_HEIGHT - CHART_BOTTOM - (value / self.top) * plot, 1)

    def lines(self, rows: list[tuple[datetime, float | None, int]]) -> list[str]:
        """A new line after a gap: an hour without a latency is not drawn as a slope."""
        runs: list[list[str]] = []
        previous: datetime | None = None
        for hour, average, _ in rows:
            if average is None:
                previous = None
                continue
            if previous is None or hour - previous > timedelta(hours=1):
                runs.append([])
            runs[-1].append(f"{self.x(hour)},{self.y(average)}")
            previous = hour
        return [" ".join(run) for run in runs]

    def day_ticks(self) -> list[tuple[float, str]]:
        midnight = self.start.replace(hour=0) + timedelta(days=1)
        ticks = []
        while midnight <= self.start + timedelta(days=CHART_DAYS):
            ticks.append((self.x(midnight), f"{midnight:%m-%d}"))
            midnight += timedelta(days=1)
        return ticks
