"""The admin index (with its guided setup and the count of people waiting for approval) and the
People list filtered to "waiting for approval", at 1,000 vs 1,000,000 people, 25 of them waiting.

Goal: the same number of queries at both sizes, and a render time ratio <= 2 (the waiting are
found through their partial index, accounts_user_waiting_idx; the list counts no huge table).
People are built in PostgreSQL (INSERT ... SELECT generate_series).

    scripts/with-test-services .venv/bin/python -m bench admin_index
"""

from __future__ import annotations

import time
from typing import Any

from bench import size

SIZES = (size(1_000, 100), size(1_000_000, 2_000))
WAITING = 25
RENDERS = size(9, 2)
GOAL_RATIO = 2.0
BENCH_EMAIL = "bench-admin@example.com"


def run() -> None:
    client = _admin_client()
    pages = {"index": "/admin/", "people_waiting": "/admin/accounts/user/?signup=waiting"}
    measured: dict[str, dict[int, tuple[int, float]]] = {name: {} for name in pages}
    try:
        for people in SIZES:
            started = time.monotonic()
            _fill(people)
            print(f"admin_index: built people={people} in {time.monotonic() - started:.1f}s", flush=True)
            for name, url in pages.items():
                queries, seconds = _measure(client, url)
                measured[name][people] = (queries, seconds)
                print(
                    f"admin_index: page={name} people={people} queries={queries} "
                    f"render_ms={seconds * 1000:.1f}",
                    flush=True,
                )
        small, large = SIZES
        for name in pages:
            (q_small, t_small), (q_large, t_large) = measured[name][small], measured[name][large]
            print(
                f"admin_index: page={name} queries_{small}={q_small} queries_{large}={q_large} "
                f"equal={q_small == q_large} render_ratio={t_large / t_small:.2f} "
                f"(goal: equal queries, ratio <= {GOAL_RATIO})",
                flush=True,
            )
    finally:
        _fill(0)  # leave the bench database small


def _admin_client() -> Any:
    from django.test import Client

    from portal.accounts.models import User

    user = User.objects.filter(email=BENCH_EMAIL).first()
    if user is None:
        user = User.objects.create_superuser(email=BENCH_EMAIL, password=None)
    client = Client()
    client.force_login(user)
    return client


def _fill(people: int) -> None:
    """`people` bench people: every one verified, all approved but the last WAITING."""
    from django.db import connection

    from portal.accounts.models import User

    table = User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE email LIKE 'bench-person-%%'")  # noqa: S608
        if people:
            cursor.execute(
                f"""
                INSERT INTO {table} (password, is_superuser, email, name, is_staff, is_active,
                    date_joined, email_verified_at, approved_at)
                SELECT '!', false, 'bench-person-' || g || '@example.com', '', false, true,
                       now() - make_interval(secs => g), now(),
                       CASE WHEN g > %(people)s - %(waiting)s THEN NULL ELSE now() END
                FROM generate_series(1, %(people)s) AS g
                """,  # noqa: S608 -- the table name from the model, values bound
                {"people": people, "waiting": WAITING},
            )
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    connection.set_autocommit(old_autocommit)


def _measure(client: Any, url: str) -> tuple[int, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches and the template loader
        response = client.get(url)
        assert getattr(response, "status_code", 0) == 200, response
        assert b"25 people waiting for approval" in response.content or url != "/admin/", url
    times = []
    queries = 0
    for _ in range(RENDERS):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"   slowest query {float(slowest['time']) * 1000:.1f} ms: {slowest['sql'][:160]}")
    return queries, min(times)  # the fastest render: other work on the machine only adds time
