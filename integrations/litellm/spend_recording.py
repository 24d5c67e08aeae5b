"""The sync's step that turns the key levels it just applied into spend history increments
(the arithmetic and the table are in spend_history.py). Kept out of sync.py, which is about
bringing rows in line with LiteLLM, not about what they spent."""

from __future__ import annotations

from datetime import datetime

from integrations.litellm.models import VirtualKey
from integrations.litellm.spend_history import spend_increment, spend_record, was_reset

# The row's record of the level last added to the history; the sync loads them with the row.
RECORDED_FIELDS = ("spend_recorded", "spend_recorded_reset_at")


def spend_record_applied(applied: list[VirtualKey], *, at: datetime) -> None:
    """Add to the spend history what the keys spent since the level it last recorded, read
    under a row lock: a second sync of the same page (two workers, a re-run) waits, then finds
    the level already recorded and adds nothing twice. At most three queries per page.

    A key adopted by a sync starts with its spend then as the baseline; a key older than the
    history has none, and its current level is taken as one: its spend so far is not spend
    of this hour."""
    due = [row for row in applied if row.spend_recorded is None or row.spend != row.spend_recorded]
    if not due:
        return
    recorded = {
        pk: (level, reset_at)
        for pk, level, reset_at in VirtualKey.objects.select_for_update()
        .filter(pk__in=[row.pk for row in due])
        .order_by("pk")
        .values_list("pk", *RECORDED_FIELDS)
    }
    increments = []
    for row in due:
        if row.pk not in recorded:
            continue  # deleted meanwhile
        level, reset_at = recorded[row.pk]
        if level is not None and row.spend < level and not was_reset(reset_at, row.budget_reset_at):
            # A stale reading (a slower sync): keep the baseline, or the next sync would add
            # the difference again.
            row.spend_recorded, row.spend_recorded_reset_at = level, reset_at
            continue
        if level is not None:
            increments.append(
                (
                    row.pk,
                    spend_increment(level, row.spend, reset_before=reset_at, reset_after=row.budget_reset_at),
                )
            )
        row.spend_recorded, row.spend_recorded_reset_at = row.spend, row.budget_reset_at
    spend_record(increments, at=at)
    VirtualKey.objects.bulk_update(due, RECORDED_FIELDS, batch_size=500)
