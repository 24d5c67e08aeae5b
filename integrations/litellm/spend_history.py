"""Spend history: what each key added per hour and per UTC day, recorded by the sync.

The sync records increments, not levels. The spend LiteLLM reports only grows, except:
- a budget reset: LiteLLM's reset job zeroes `spend` when `budget_reset_at` has passed
  (proxy/common_utils/reset_budget_job.py, ResetBudgetJob.reset_budget_for_litellm_keys);
- a rotation: THE rotation engine (rotation.py) keeps the key row and the replacement starts
  at the old key's spend, so the level the row holds simply continues; nothing drops.
A reset is told apart by its date: `budget_reset_at` moves forward with the drop. Then the new
level is what was spent since the reset (spend between the last sync and the reset is seen by
no one but LiteLLM and is not counted). A drop without a reset is a stale reading (a slower
sync finishing after a newer one) and records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from integrations.litellm.models import KeySpend, SpendGrain
from portal.core.retention import delete_in_batches

DEFAULT_HOURLY_KEEP_DAYS = 90
DEFAULT_DAILY_KEEP_DAYS = 396  # 13 months


def spend_increment(
    before: Decimal, after: Decimal, *, reset_before: datetime | None, reset_after: datetime | None
) -> Decimal:
    """What a key spent between two readings of its level; never negative (module docstring)."""
    if after >= before:
        return after - before
    return max(after, Decimal(0)) if was_reset(reset_before, reset_after) else Decimal(0)


def was_reset(reset_before: datetime | None, reset_after: datetime | None) -> bool:
    """LiteLLM moved the key's reset date forward: its spend was zeroed for a new window."""
    return reset_after is not None and (reset_before is None or reset_after > reset_before)


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


_RECORD_SQL = """
INSERT INTO litellm_keyspend (key_id, grain, bucket, amount)
SELECT r.key_id, g.grain, g.bucket, r.amount
FROM unnest(%(keys)s::bigint[], %(amounts)s::numeric[]) AS r(key_id, amount)
CROSS JOIN (VALUES (%(hour)s, %(hour_start)s::timestamptz), (%(day)s, %(day_start)s::timestamptz)) AS g(grain, bucket)
ON CONFLICT (key_id, grain, bucket) DO UPDATE SET amount = litellm_keyspend.amount + EXCLUDED.amount
"""


def spend_record(increments: Iterable[tuple[int, Decimal]], *, at: datetime) -> int:
    """Add each (key id, amount) to its hourly and daily bucket: one statement for a whole
    page, however many keys. Returns how many keys had something to record."""
    rows = [(key_id, amount) for key_id, amount in increments if amount > 0]
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        _record_portable(rows, at=at)
        return len(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "keys": [key_id for key_id, _ in rows],
                "amounts": [str(amount) for _, amount in rows],
                "hour": SpendGrain.HOUR.value,
                "hour_start": hour_start(at),
                "day": SpendGrain.DAY.value,
                "day_start": day_start(at),
            },
        )
    return len(rows)


_RECORD_ROW_SQL = """
INSERT INTO litellm_keyspend (key_id, grain, bucket, amount) VALUES (%s, %s, %s, %s)
ON CONFLICT (key_id, grain, bucket) DO UPDATE SET amount = litellm_keyspend.amount + excluded.amount
"""


def _record_portable(rows: list[tuple[int, Decimal]], *, at: datetime) -> None:
    """The embedded default (SQLite, `make run`) has no unnest(): the same upsert row by row.
    Datetimes are adapted as the ORM stores them, so raw rows and ORM rows compare alike."""
    adapt = connection.ops.adapt_datetimefield_value
    buckets = ((SpendGrain.HOUR.value, adapt(hour_start(at))), (SpendGrain.DAY.value, adapt(day_start(at))))
    with connection.cursor() as cursor:
        cursor.executemany(
            _RECORD_ROW_SQL,
            [(key_id, grain, bucket, str(amount)) for key_id, amount in rows for grain, bucket in buckets],
        )


def spend_history_prune(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Delete hourly rows older than LITELLM_SPEND_HOURLY_KEEP_DAYS and daily rows older than
    LITELLM_SPEND_DAILY_KEEP_DAYS, in batches so a first prune never holds one huge transaction."""
    now = now or timezone.now()
    keep = {
        SpendGrain.HOUR: getattr(settings, "LITELLM_SPEND_HOURLY_KEEP_DAYS", DEFAULT_HOURLY_KEEP_DAYS),
        SpendGrain.DAY: getattr(settings, "LITELLM_SPEND_DAILY_KEEP_DAYS", DEFAULT_DAILY_KEEP_DAYS),
    }
    deleted = 0
    for grain, days in keep.items():
        if days < 1:
            raise ValueError(f"keep {grain.label} spend history for at least one day, not {days}")
        cutoff = now - timedelta(days=days)
        deleted += delete_in_batches(KeySpend.objects.filter(grain=grain, bucket__lt=cutoff), batch=batch)
    return deleted
