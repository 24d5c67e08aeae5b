"""Budget alerts: a key's spend crossed one of its plan's thresholds, or its soft budget.

The sync (sync._sync_page) calls `budget_alerts_check` with the keys whose spend it just
saved, inside the same transaction. Each crossing is one BudgetAlert row, inserted with ON
CONFLICT DO NOTHING on (key, period, threshold): two workers syncing the same page, a re-run
sync or a rotation's replacement (the same row, the same reset date) all find the row there
and insert nothing. Two statements per page whatever its size, none when no key crossed.

Who is told lives in the feature apps, which this package must not import: after commit the
sync sends `budget_alerts_recorded` with the new rows' ids; portal.access mails the person,
portal.connectivity raises the staff alert. Each takes its side of a row through
`budget_alerts_hand_over`, which marks each under a row lock, so it is handed over once; their
beat jobs pick up the sides still open (a lost wake-up, a broker that was down).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from enum import Enum

from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from integrations.litellm.models import (
    DEFAULT_ALERT_THRESHOLDS,
    SOFT_BUDGET_THRESHOLD,
    BudgetAlert,
    VirtualKey,
)
from portal.core.money import dollars

log = logging.getLogger(__name__)

# Sent after commit with `alert_ids`: the BudgetAlert rows this sync page inserted.
budget_alerts_recorded = Signal()


class Side(Enum):
    PERSON = "person"
    STAFF = "staff"


_INSERT_SQL = """
INSERT INTO litellm_budgetalert (key_id, period_reset_at, threshold, "limit", spend, max_budget,
    created_at, person_detail, staff_detail)
SELECT r.key_id, r.period_reset_at, r.threshold, r.lim, r.spend, r.max_budget, %(now)s, '', ''
FROM unnest(%(keys)s::bigint[], %(periods)s::timestamptz[], %(thresholds)s::text[],
    %(limits)s::numeric[], %(spends)s::numeric[], %(budgets)s::numeric[])
    AS r(key_id, period_reset_at, threshold, lim, spend, max_budget)
ON CONFLICT (key_id, period_reset_at, threshold) DO NOTHING
RETURNING id
"""


def crossings(
    *,
    spend: Decimal,
    max_budget: Decimal | None,
    soft_budget: Decimal | None,
    thresholds: Iterable[int],
) -> list[tuple[str, Decimal]]:
    """(threshold, amount) for every threshold `spend` has reached."""
    found = []
    if max_budget is not None and max_budget > 0:
        for percent in thresholds:
            amount = max_budget * percent / 100
            if spend >= amount:
                found.append((str(percent), amount))
    if soft_budget is not None and soft_budget > 0 and spend >= soft_budget:
        found.append((SOFT_BUDGET_THRESHOLD, soft_budget))
    return found


def _may_cross(row: VirtualKey) -> bool:
    if row.spend <= 0 or (row.max_budget is None and row.soft_budget is None):
        return False
    # A budget that resets whose reset date is not known yet (/key/generate does not echo it):
    # a crossing recorded now would be filed under no period and told again once it is known.
    return not (row.budget_duration and row.budget_reset_at is None)


def budget_alerts_check(rows: Iterable[VirtualKey], *, now: datetime | None = None) -> list[int]:
    """Record every threshold the rows' spend has reached in their budget period (module
    docstring). `rows` carry spend, limits and reset date as just saved. Returns the new ids."""
    candidates = [row for row in rows if _may_cross(row)]
    if not candidates:
        return []
    thresholds = dict(
        VirtualKey.objects.filter(pk__in=[row.pk for row in candidates]).values_list(
            "pk", "plan__alert_thresholds"
        )
    )
    values: list[tuple[int, datetime | None, str, Decimal, Decimal, Decimal | None]] = []
    for row in candidates:
        for threshold, amount in crossings(
            spend=row.spend,
            max_budget=row.max_budget,
            soft_budget=row.soft_budget,
            thresholds=thresholds.get(row.pk) or DEFAULT_ALERT_THRESHOLDS,
        ):
            values.append((row.pk, row.budget_reset_at, threshold, amount, row.spend, row.max_budget))
    if not values:
        return []
    if connection.vendor != "postgresql":
        ids = _insert_portable(values, now=now or timezone.now())
        if ids:
            transaction.on_commit(lambda: budget_alerts_recorded.send(sender=BudgetAlert, alert_ids=ids))
        return ids
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            {
                "now": now or timezone.now(),
                "keys": [v[0] for v in values],
                "periods": [v[1] for v in values],
                "thresholds": [v[2] for v in values],
                "limits": [str(v[3]) for v in values],
                "spends": [str(v[4]) for v in values],
                "budgets": [None if v[5] is None else str(v[5]) for v in values],
            },
        )
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        transaction.on_commit(lambda: budget_alerts_recorded.send(sender=BudgetAlert, alert_ids=ids))
    return ids


def _insert_portable(
    values: list[tuple[int, datetime | None, str, Decimal, Decimal, Decimal | None]], *, now: datetime
) -> list[int]:
    """The embedded default (SQLite, `make run`): no unnest(), and SQLite gets no unique index
    for a constraint with nulls_distinct (PostgreSQL's), so each crossing is looked up first.
    One worker serves `make run`, so the look-up and the insert do not race there."""
    ids = []
    for key_id, period, threshold, limit, spend, max_budget in values:
        if BudgetAlert.objects.filter(key_id=key_id, period_reset_at=period, threshold=threshold).exists():
            continue
        alert = BudgetAlert.objects.create(
            key_id=key_id,
            period_reset_at=period,
            threshold=threshold,
            limit=limit,
            spend=spend,
            max_budget=max_budget,
            created_at=now,
        )
        ids.append(alert.pk)
    return ids


def budget_alert_hand_over(*, alert_id: int, side: Side, hand_over: Callable[[BudgetAlert], str]) -> bool:
    """Give one side of an alert to `hand_over` once: under a row lock (a second worker skips
    the row), `hand_over` queues its messages in this transaction and returns what staff read
    on the row ("mailed to ..."); the side is marked done with it. False: done already or
    another worker holds it. An exception leaves the side open for the beat."""
    done_at = f"{side.value}_done_at"
    with transaction.atomic():
        alert = (
            BudgetAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("key__server")
            .filter(pk=alert_id, **{f"{done_at}__isnull": True})
            .first()
        )
        if alert is None:
            return False
        detail = hand_over(alert)
        setattr(alert, done_at, timezone.now())
        setattr(alert, f"{side.value}_detail", detail[:300])
        alert.save(update_fields=[done_at, f"{side.value}_detail"])
    return True


def budget_alerts_hand_over(
    *, alert_ids: Iterable[int], side: Side, hand_over: Callable[[BudgetAlert], str]
) -> int:
    """`budget_alert_hand_over` for each id; returns how many were handed over here. A row whose
    hand-over fails is logged and left open, and the others still go: the beat's look-up is
    oldest first, so one row that keeps failing must not hold back every alert after it."""
    done = 0
    for alert_id in alert_ids:
        try:
            done += budget_alert_hand_over(alert_id=alert_id, side=side, hand_over=hand_over)
        except Exception:
            log.exception(
                "budget alert #%s: the %s side failed; left open for the beat", alert_id, side.value
            )
    return done


def budget_alerts_open(*, side: Side, limit: int = 200) -> list[int]:
    """Ids of alerts whose `side` was not handed over yet, oldest first (the beat's look-up)."""
    return list(
        BudgetAlert.objects.filter(**{f"{side.value}_done_at__isnull": True})
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def alert_sentence(alert: BudgetAlert) -> str:
    """What was crossed, in words: 'used 80% of its budget: $8.00 of $10.00'."""
    if alert.threshold == SOFT_BUDGET_THRESHOLD:
        return f"passed its soft budget of {dollars(alert.limit)}: {dollars(alert.spend)} spent"
    budget = alert.max_budget if alert.max_budget is not None else alert.limit
    return f"used {alert.threshold}% of its budget: {dollars(alert.spend)} of {dollars(budget)}"


def period_words(alert: BudgetAlert) -> str:
    if alert.period_reset_at is None:
        return "The budget does not reset."
    return f"The budget resets on {alert.period_reset_at:%-d %B %Y %H:%M} UTC."
