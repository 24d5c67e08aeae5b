"""The connectivity dashboard and the CheckResult admin list at 1,000 vs 1,000,000 results.

Goal: the same number of queries at both sizes, and a render time ratio <= 2 (the dashboard),
<= 1.5 (the check-result lists). Every page shows a full page (100 rows) at both sizes, so the
ratio measures the table, not the page. Rows are built in PostgreSQL (INSERT ... SELECT
generate_series), spread over 7 days across 10 targets x 2 networks, with the hourly rollups
derived from them as the sweeps would have left them.

    make bench            (or: scripts/with-test-services .venv/bin/python -m bench connectivity)
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bench import size
from bench.pages import Measured, Page, measure_pages, report, staff_client

# Quick mode too keeps the small size at 1,000: below that a filtered list (1 row in 10 for
# "failed on a network") shows less than a page, and the ratio would count rows, not the table.
SIZES = (size(1_000, 1_000), size(1_000_000, 20_000))
RENDERS = size(9, 2)
# The list pages render in ~50 ms: the fastest of more renders is a steadier floor on a busy
# machine (other work only ever adds time), and costs a few seconds.
LIST_RENDERS = size(25, 2)
LIST_GOAL_RATIO = 1.5  # the check-result lists (issue #16): a page of a million rows as fast as of a thousand
TARGETS = 10


def run() -> None:
    client = staff_client()
    network_ids, target_ids = _fixtures()
    pages = _pages(client, network_ids, target_ids)
    measured: Measured = {}
    for rows in SIZES:
        started = time.monotonic()
        _fill(rows, network_ids, target_ids)
        print(f"connectivity_admin: built rows={rows} in {time.monotonic() - started:.1f}s", flush=True)
        measure_pages("connectivity_admin", pages, measured, unit="rows", size=rows)
    report("connectivity_admin", pages, measured, SIZES)
    _fill(0, network_ids, target_ids)  # leave the bench database small


def _fixtures() -> tuple[list[int], list[int]]:
    from django.utils import timezone

    from portal.connectivity.models import Network, Target, TargetNetwork
    from portal.models import WorkerHeartbeat

    networks = [Network.objects.get_or_create(name=f"bench-{n}")[0] for n in ("dev", "prod")]
    targets = []
    for i in range(TARGETS):
        target, _ = Target.objects.get_or_create(
            name=f"bench target {i}", defaults={"address": f"http://service-{i}:8000/health"}
        )
        targets.append(target)
        for network in networks:
            TargetNetwork.objects.get_or_create(
                target=target,
                network=network,
                defaults={"state": "up", "since": timezone.now(), "last_latency_ms": 5.0},
            )
    for network in networks:
        WorkerHeartbeat.objects.update_or_create(
            queue=network.queue,
            defaults={"hostname": "bench", "seen_at": timezone.now() + timedelta(days=1)},
        )
    return [n.pk for n in networks], [t.pk for t in targets]


def _pages(client: Any, network_ids: list[int], target_ids: list[int]) -> dict[str, Page]:
    from django.urls import reverse

    changelist = reverse("admin:connectivity_checkresult_changelist")
    lists = {
        "checkresults": changelist,
        "checkresults_failed_on_network": f"{changelist}?network__id__exact={network_ids[1]}&ok__exact=0",
        "checkresults_by_target": f"{changelist}?target__id__exact={target_ids[3]}",
        "checkresults_timeouts": f"{changelist}?error_kind=timeout",
    }
    return {
        "dashboard": Page(client, reverse("admin:connectivity_dashboard"), RENDERS),
        **{name: Page(client, url, LIST_RENDERS, goal_ratio=LIST_GOAL_RATIO) for name, url in lists.items()},
    }


def _fill(size: int, network_ids: list[int], target_ids: list[int]) -> None:
    from django.db import connection

    from portal.connectivity.models import CheckResult, HourlyRollup

    results, rollups = CheckResult._meta.db_table, HourlyRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {results}, {rollups}")
        if size:
            # Every 5th check failed (a timeout); one check every (7 days / size) seconds.
            cursor.execute(
                f"""
                INSERT INTO {results} (target_id, network_id, ok, answered, latency_ms, resolved_addresses,
                    http_status, error_kind, phase, detail, diagnosis_kind, diagnosis, suggested_fix,
                    tls_days_left, alternatives, checked_at)
                SELECT (%(targets)s::bigint[])[1 + (g / 2) %% {len(target_ids)}],
                       (%(networks)s::bigint[])[1 + (g / 7) %% 2],
                       g %% 5 <> 0, g %% 5 <> 0, 5 + g %% 37, '["10.20.0.5"]'::jsonb,
                       CASE WHEN g %% 5 <> 0 THEN 200 END,
                       CASE WHEN g %% 5 = 0 THEN 'timeout' ELSE '' END,
                       CASE WHEN g %% 5 = 0 THEN 'connect' ELSE '' END,
                       '', CASE WHEN g %% 5 = 0 THEN 'connect_timeout' ELSE 'ok' END,
                       CASE WHEN g %% 5 = 0 THEN 'Nothing answered at service:8000 within 5 s.' ELSE '' END,
                       CASE WHEN g %% 5 = 0 THEN 'Check that the service runs and listens on 8000.' ELSE '' END,
                       NULL, '[]'::jsonb,
                       now() - make_interval(secs => g * 604800.0 / %(size)s)
                FROM generate_series(1, %(size)s) AS g
                """,  # noqa: S608 -- table names from the models, values bound
                {"targets": target_ids, "networks": network_ids, "size": size},
            )
            cursor.execute(
                f"""
                INSERT INTO {rollups} (target_id, network_id, hour, checks, failures, latency_sum_ms, latency_count)
                SELECT target_id, network_id, date_trunc('hour', checked_at), count(*),
                       count(*) FILTER (WHERE NOT ok),
                       coalesce(sum(latency_ms) FILTER (WHERE ok), 0), count(*) FILTER (WHERE ok)
                FROM {results} GROUP BY 1, 2, 3
                """  # noqa: S608
            )
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {results}")
        cursor.execute(f"VACUUM ANALYZE {rollups}")
        # The fill's dirty pages are flushed now, not by a checkpoint during the measured renders.
        cursor.execute("CHECKPOINT")
    connection.set_autocommit(old_autocommit)
