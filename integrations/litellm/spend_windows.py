"""Each key's spend over the last 30 and 90 days (KeySpendWindow), summed from the daily
history by the beat entry "litellm: spend totals for the admin", and read by the admin's spend
page (admin/spend.py).

Why a summary and not a query on the page: 90 days of daily rows for every key is hundreds of
thousands of rows at a few thousand keys; the page must cost the same at 10 M history rows as
at 10 k. The beat sums them in one statement per window, away from anyone waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from integrations.litellm.models import KeySpendWindow, SpendGrain
from integrations.litellm.spend_history import day_start

WINDOWS = (30, 90)  # days, today included

_REFRESH_SQL = """
INSERT INTO litellm_keyspendwindow (key_id, days, amount, computed_at)
SELECT key_id, %(days)s, SUM(amount), %(now)s
FROM litellm_keyspend
WHERE grain = %(grain)s AND bucket >= %(since)s
GROUP BY key_id
ON CONFLICT (key_id, days) DO UPDATE SET amount = EXCLUDED.amount, computed_at = EXCLUDED.computed_at
"""


def window_since(days: int, now: datetime) -> datetime:
    return day_start(now) - timedelta(days=days - 1)


def spend_windows_refresh(*, now: datetime | None = None) -> int:
    """Recompute every key's 30- and 90-day totals; keys that spent nothing lose their row.
    Returns how many rows the windows hold now."""
    now = now or timezone.now()
    held = 0
    for days in WINDOWS:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _REFRESH_SQL,
                {
                    "days": days,
                    # As the ORM stores them, so SQLite (`make run`) compares them alike.
                    "now": connection.ops.adapt_datetimefield_value(now),
                    "grain": SpendGrain.DAY.value,
                    "since": connection.ops.adapt_datetimefield_value(window_since(days, now)),
                },
            )
            held += cursor.rowcount
            # Rows this run did not touch: keys with nothing in the window any more. A slower
            # run finishing later has an older `now` and deletes nothing the newer one wrote.
            KeySpendWindow.objects.filter(days=days, computed_at__lt=now).delete()
    return held


def spend_windows_computed_at() -> datetime | None:
    """When the totals were last summed (one indexed row), for the page to say how fresh it is."""
    return (
        KeySpendWindow.objects.filter(days=WINDOWS[0])
        .order_by("-amount")
        .values_list("computed_at", flat=True)
        .first()
    )
