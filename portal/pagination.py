"""A paginator for admin lists over huge tables: no full COUNT(*).

Unfiltered lists on PostgreSQL take the planner's row estimate (pg_class.reltuples, kept
fresh by autovacuum/ANALYZE); filtered lists count at most `count_cap + 1` rows, so a filter
matching millions costs a bounded scan and the list says "10,000+" pages' worth instead of
waiting. Use with `show_full_result_count = False` on the ModelAdmin.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections


class LargeTablePaginator(Paginator):
    count_cap = 10_000

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        db = getattr(queryset, "db", "default")
        if not query.where and connections[db].vendor == "postgresql":
            estimate = self._estimated_rows(queryset.model._meta.db_table, db)
            if estimate > self.count_cap:
                return estimate
        return queryset.order_by()[: self.count_cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count == self.count_cap + 1

    @staticmethod
    def _estimated_rows(table: str, db: str) -> int:
        with connections[db].cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
            row = cursor.fetchone()
        return max(0, int(row[0])) if row and row[0] is not None else 0
