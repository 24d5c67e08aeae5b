"""How long check history is kept: results pruned in batches, hourly rollups kept for the
90-day uptime on a target's page (history.py), both with the one batched delete."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from portal.connectivity.history import keep_rollups_days
from portal.connectivity.models import (
    CheckResult,
    HourlyRollup,
)
from portal.core.retention import delete_in_batches

DEFAULT_KEEP_RESULTS_DAYS = 30


def check_results_prune(*, days: int | None = None, now: datetime | None = None, batch: int = 10_000) -> int:
    """Delete results older than `days` (setting CONNECTIVITY_KEEP_RESULTS_DAYS), in batches
    so a first prune of millions never holds one huge transaction."""
    days = (
        days
        if days is not None
        else getattr(settings, "CONNECTIVITY_KEEP_RESULTS_DAYS", DEFAULT_KEEP_RESULTS_DAYS)
    )
    if days < 1:
        raise ValueError(f"keep results for at least one day, not {days}")
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    deleted = delete_in_batches(CheckResult.objects.filter(checked_at__lt=cutoff), batch=batch)
    # Rollups feed the dashboard's 7-day uptime: never kept shorter than that. Hourly rows for
    # 90 days are 2,160 per placement (under 1 M rows at 200 targets x 2 networks), read by
    # the (target, network, hour) unique index: one table and one writer, no daily rollup.
    keep = max(keep_rollups_days(), 8)
    delete_in_batches(HourlyRollup.objects.filter(hour__lt=now - timedelta(days=keep)), batch=batch)
    return deleted
