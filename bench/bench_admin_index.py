"""The admin index (with its guided setup and the count of people waiting for approval) and the
People list filtered to "waiting for approval", at 1,000 vs 1,000,000 people, 25 of them waiting.

Goal: the same number of queries at both sizes, and a render time ratio <= 2 (the waiting are
found through their partial index, accounts_user_waiting_idx; the list counts no huge table).
People are built in PostgreSQL (INSERT ... SELECT generate_series).

    scripts/with-test-services .venv/bin/python -m bench admin_index
"""

from __future__ import annotations

import time

from bench import size
from bench.pages import Measured, Page, measure_pages, report, staff_client

SIZES = (size(1_000, 100), size(1_000_000, 2_000))
WAITING = 25
RENDERS = size(9, 2)


def run() -> None:
    client = staff_client()
    pages = {
        "index": Page(client, "/admin/", RENDERS, must_contain=b"25 people waiting for approval"),
        "people_waiting": Page(client, "/admin/accounts/user/?signup=waiting", RENDERS),
    }
    measured: Measured = {}
    try:
        for people in SIZES:
            started = time.monotonic()
            _fill(people)
            print(f"admin_index: built people={people} in {time.monotonic() - started:.1f}s", flush=True)
            measure_pages("admin_index", pages, measured, unit="people", size=people)
        report("admin_index", pages, measured, SIZES)
    finally:
        _fill(0)  # leave the bench database small


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
