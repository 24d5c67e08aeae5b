"""Deleting old rows without one huge transaction: the one batched delete every prune uses."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def delete_in_batches(rows: QuerySet[Any], *, batch: int = 10_000) -> int:
    """Delete `rows` `batch` ids at a time, so a first prune of millions never holds one huge
    transaction or lock. Returns how many rows went (cascades included, as Django counts)."""
    deleted = 0
    while True:
        ids = list(rows.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        count, _ = rows.model.objects.filter(pk__in=ids).delete()
        deleted += count
