from __future__ import annotations

import pytest
from django.db import connection

from portal.core.pagination import LargeTablePaginator
from portal.models import WorkerHeartbeat


@pytest.mark.django_db
def test_it_counts_small_tables_exactly() -> None:
    WorkerHeartbeat.objects.bulk_create(
        WorkerHeartbeat(queue=f"q{i}", seen_at="2026-01-01T00:00:00Z") for i in range(7)
    )
    assert LargeTablePaginator(WorkerHeartbeat.objects.all(), 5).count == 7


@pytest.mark.django_db
def test_it_caps_filtered_counts(django_assert_max_num_queries) -> None:
    WorkerHeartbeat.objects.bulk_create(
        WorkerHeartbeat(queue=f"q{i}", seen_at="2026-01-01T00:00:00Z") for i in range(30)
    )
    paginator = LargeTablePaginator(WorkerHeartbeat.objects.filter(queue__startswith="q"), 5)
    paginator.count_cap = 10
    assert paginator.count == 11 and paginator.is_capped


@pytest.mark.django_db(transaction=True)
def test_it_takes_the_planner_estimate_for_a_huge_unfiltered_table() -> None:
    WorkerHeartbeat.objects.bulk_create(
        WorkerHeartbeat(queue=f"q{i}", seen_at="2026-01-01T00:00:00Z") for i in range(50)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {WorkerHeartbeat._meta.db_table}")
    paginator = LargeTablePaginator(WorkerHeartbeat.objects.all(), 5)
    paginator.count_cap = 20
    assert paginator.count == 50  # reltuples after ANALYZE, not a COUNT(*)


@pytest.mark.django_db
def test_it_counts_an_unfiltered_list_in_one_query(django_assert_num_queries) -> None:
    WorkerHeartbeat.objects.bulk_create(
        WorkerHeartbeat(queue=f"q{i}", seen_at="2026-01-01T00:00:00Z") for i in range(3)
    )
    with django_assert_num_queries(1):
        assert LargeTablePaginator(WorkerHeartbeat.objects.all(), 5).count == 3
