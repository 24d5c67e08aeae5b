"""A paginator for admin lists over huge tables: no full COUNT(*), one query at any size.

Unfiltered lists on PostgreSQL take the planner's row estimate (pg_class.reltuples, kept
fresh by autovacuum/ANALYZE) when the table is large, and a capped exact count when it is
small, decided inside PostgreSQL in ONE query so the query count is the same at 1,000 and at
1,000,000 rows. Filtered lists count at most `count_cap + 1` rows: a filter matching millions
costs a bounded scan and the list offers the first `count_cap` matches' pages.
Use with `show_full_result_count = False` on the ModelAdmin.
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
        if query.where or connections[db].vendor != "postgresql":
            return int(queryset.order_by()[: self.count_cap + 1].count())
        table = queryset.model._meta.db_table
        quoted = connections[db].ops.quote_name(table)  # the model's own table, never input
        sql = (
            "SELECT CASE WHEN c.reltuples > %s THEN c.reltuples::bigint "  # noqa: S608
            f"ELSE (SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT %s) AS capped) END "
            "FROM pg_class c WHERE c.oid = to_regclass(%s)"
        )
        with connections[db].cursor() as cursor:
            cursor.execute(sql, [self.count_cap, self.count_cap + 1, table])
            row = cursor.fetchone()
        return max(0, int(row[0])) if row and row[0] is not None else 0

    @property
    def is_capped(self) -> bool:
        return self.count == self.count_cap + 1
