"""The connectivity dashboard (200 targets x 2 networks) and a target's page with its history,
at 10,000 vs 10,000,000 check results.

Goal: the same number of queries at both sizes, and a render time ratio <= 2. Both sizes draw
the same page: every cell has its 24 h of rollups (sparkline), its heartbeat bar and a 7-day
uptime, so the ratio measures the history's size, not a fuller page. The small size is one day
of checks (about one an hour per cell); the large one is 90 days (one every 5 minutes per cell),
so the large history also fills the target page's 30 d and 90 d windows and the
CONNECTIVITY_KEEP_ROLLUPS_DAYS of hourly rollups. Rows are built in PostgreSQL (INSERT ...
SELECT generate_series), the rollups and heartbeat bars derived from them as the check writer
leaves them. Secondary indexes are dropped during the load and rebuilt after (as a bulk load
does), which changes no plan.

    scripts/with-test-services .venv/bin/python -m bench dashboard
"""

from __future__ import annotations

import time
from datetime import timedelta

from bench import size
from bench.pages import Measured, Page, measure_pages, report, staff_client

SIZES = (size(10_000, 2_000), size(10_000_000, 100_000))
SPAN_DAYS = {SIZES[0]: 1, SIZES[1]: size(90, 20)}
RENDERS = size(15, 2)  # the fastest of many: the machine is shared
TARGETS = 200
NETWORKS = ("bench-dash-dev", "bench-dash-prod")


def run() -> None:
    from django.urls import reverse

    from portal.connectivity.models import Network, Target

    client = staff_client()
    network_ids, target_ids = _fixtures()
    dashboard = reverse("admin:connectivity_dashboard")
    pages = {
        "dashboard": Page(client, dashboard, RENDERS),
        "dashboard_refresh": Page(client, dashboard + "?fragment=1", RENDERS),
        "target_history": Page(
            client, reverse("admin:connectivity_target_change", args=[target_ids[7]]), RENDERS
        ),
    }
    measured: Measured = {}
    try:
        for rows in SIZES:
            started = time.monotonic()
            _fill(rows, network_ids, target_ids)
            print(
                f"dashboard_history: built rows={rows} over {SPAN_DAYS[rows]} d "
                f"in {time.monotonic() - started:.1f}s",
                flush=True,
            )
            measure_pages("dashboard_history", pages, measured, unit="rows", size=rows)
        report("dashboard_history", pages, measured, SIZES)
    finally:
        _fill(0, network_ids, target_ids)  # leave the bench database small
        Target.objects.filter(pk__in=target_ids).delete()
        Network.objects.filter(pk__in=network_ids).delete()


def _fixtures() -> tuple[list[int], list[int]]:
    from django.utils import timezone

    from portal.connectivity.models import Network, Target, TargetNetwork
    from portal.models import WorkerHeartbeat

    networks = [Network.objects.get_or_create(name=name)[0] for name in NETWORKS]
    old = timezone.now() - timedelta(days=120)  # older than every window: no "since <date>"
    targets = []
    for i in range(TARGETS):
        target, _ = Target.objects.get_or_create(
            name=f"bench dash target {i:03}", defaults={"address": f"http://service-{i}:8000/health"}
        )
        targets.append(target)
    Target.objects.filter(pk__in=[t.pk for t in targets]).update(created_at=old)
    TargetNetwork.objects.bulk_create(
        [
            TargetNetwork(target=t, network=n, state="up", since=old, last_latency_ms=5.0)
            for t in targets
            for n in networks
        ],
        ignore_conflicts=True,
    )
    for network in networks:
        WorkerHeartbeat.objects.update_or_create(
            queue=network.queue,
            defaults={"hostname": "bench", "seen_at": timezone.now() + timedelta(days=1)},
        )
    return [n.pk for n in networks], [t.pk for t in targets]


def _fill(rows: int, network_ids: list[int], target_ids: list[int]) -> None:
    from django.db import connection

    from portal.connectivity.models import CheckResult, HourlyRollup, TargetNetwork

    results, rollups = CheckResult._meta.db_table, HourlyRollup._meta.db_table
    placements = TargetNetwork._meta.db_table
    cells = len(target_ids) * len(network_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {results}, {rollups}")
        cursor.execute(f"UPDATE {placements} SET recent_checks = '[]'::jsonb")  # noqa: S608
        if not rows:
            return
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
            [results, "%pkey"],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # Check g goes to cell g mod cells, at an even step back from now over the span; every
        # 17th failed (a timeout). Only the columns the pages read are filled.
        cursor.execute(
            f"""
            INSERT INTO {results} (target_id, network_id, ok, answered, latency_ms, resolved_addresses,
                http_status, error_kind, phase, detail, diagnosis_kind, diagnosis, suggested_fix,
                alternatives, checked_at)
            SELECT (%(targets)s::bigint[])[1 + (g %% %(cells)s) / 2],
                   (%(networks)s::bigint[])[1 + (g %% %(cells)s) %% 2],
                   g %% 17 <> 0, g %% 17 <> 0, 5 + g %% 37, '[]'::jsonb,
                   CASE WHEN g %% 17 <> 0 THEN 200 END,
                   CASE WHEN g %% 17 = 0 THEN 'timeout' ELSE '' END, '', '', '', '', '', '[]'::jsonb,
                   now() - make_interval(secs => g * %(span)s / %(rows)s)
            FROM generate_series(1, %(rows)s) AS g
            """,  # noqa: S608 -- table names from the models, values bound
            {
                "targets": target_ids,
                "networks": network_ids,
                "cells": cells,
                "rows": rows,
                "span": SPAN_DAYS[rows] * 86400.0,
            },
        )
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(
            f"""
            INSERT INTO {rollups} (target_id, network_id, hour, checks, failures, latency_sum_ms, latency_count)
            SELECT target_id, network_id, date_trunc('hour', checked_at), count(*),
                   count(*) FILTER (WHERE NOT ok),
                   coalesce(sum(latency_ms) FILTER (WHERE answered), 0), count(*) FILTER (WHERE answered)
            FROM {results} GROUP BY 1, 2, 3
            """  # noqa: S608
        )
        # The heartbeat bars as the check writer leaves them: each cell's last 24 checks.
        cursor.execute(
            f"""
            UPDATE {placements} AS p SET recent_checks = coalesce((
                SELECT jsonb_agg(jsonb_build_array(extract(epoch FROM r.checked_at)::bigint, r.ok::int,
                                 CASE WHEN r.answered THEN r.latency_ms END) ORDER BY r.checked_at)
                FROM (SELECT checked_at, ok, answered, latency_ms FROM {results}
                      WHERE target_id = p.target_id AND network_id = p.network_id
                      ORDER BY checked_at DESC, id DESC LIMIT 24) AS r), '[]'::jsonb)
            WHERE p.network_id = ANY(%(networks)s)
            """,  # noqa: S608
            {"networks": network_ids},
        )
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        for table in (results, rollups, placements):
            cursor.execute(f"VACUUM ANALYZE {table}")
    connection.set_autocommit(old_autocommit)
