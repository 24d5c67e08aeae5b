"""The person's spend page (/me/) and the admin's Spend page (top spenders, 30 and 90 days)
with 10,000 vs 10,000,000 spend history rows.

Goal: the same number of queries at both sizes, and a render time ratio <= 2. The same 5,000
keys at both sizes, the history deeper: at 10 M each key holds 13 months of daily rows and
about 67 days of hourly ones (what retention keeps), at 10 k two days. Rows are built in
PostgreSQL (INSERT ... SELECT generate_series); the 30/90-day totals are summed as the beat
entry would (its time is printed too: it runs every 15 minutes, nobody waits for it).

    make bench            (or: scripts/with-test-services .venv/bin/python -m bench spend_pages)
"""

from __future__ import annotations

import time
from decimal import Decimal

from bench import size
from bench.pages import Measured, Page, logged_in, measure_pages, report, staff_client

KEYS = size(5_000, 200)
SIZES = (size(10_000, 400), size(10_000_000, 40_000))
RENDERS = size(9, 2)
DAILY_KEPT = 396  # LITELLM_SPEND_DAILY_KEEP_DAYS's default
PERSON_EMAIL = "bench-person@example.com"


def run() -> None:
    from django.urls import reverse

    from portal.accounts.models import User

    key_ids, person_key = _fixtures()
    staff, person = staff_client(), logged_in(User.objects.get(email=PERSON_EMAIL))
    spend = reverse("admin:litellm_keyspendwindow_changelist")
    pages = {
        "me": Page(person, reverse("access:me"), RENDERS),
        "admin_spend_30d": Page(staff, spend, RENDERS),
        "admin_spend_90d": Page(staff, f"{spend}?days=90", RENDERS),
        "admin_key": Page(staff, reverse("admin:litellm_virtualkey_change", args=[person_key]), RENDERS),
    }
    measured: Measured = {}
    for rows in SIZES:
        started = time.monotonic()
        built = _fill(rows, key_ids)
        print(f"spend_pages: built rows={built} in {time.monotonic() - started:.1f}s", flush=True)
        from integrations.litellm.spend_windows import spend_windows_refresh

        started = time.monotonic()
        spend_windows_refresh()
        print(f"spend_pages: rows={rows} beat totals refresh_s={time.monotonic() - started:.2f}", flush=True)
        measure_pages("spend_pages", pages, measured, unit="rows", size=rows)
    report("spend_pages", pages, measured, SIZES)
    _fill(0, key_ids)  # leave the bench database small


def _fixtures() -> tuple[list[int], int]:
    """A server, three plans, KEYS keys near and far from their budgets, and a person whose
    key is one of them (a calendar-month budget period, so /me/ draws the whole month)."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.librechat.models import LibreChatServer
    from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
    from portal.access.models import Pairing, PersonalKey
    from portal.accounts.models import User

    server = LiteLLMServer.objects.filter(name="bench-spend").first()
    if server is None:
        server = LiteLLMServer(name="bench-spend", base_url="http://litellm:4000", network="backend-dev")
        server.master_key = "sk-bench-master-0123456789"
        server.save()
    plans = [
        KeyPlan.objects.get_or_create(name=f"bench plan {n}", defaults={"max_budget": Decimal(50)})[0]
        for n in range(3)
    ]
    now = timezone.now()
    next_month = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(
        day=1
    )
    VirtualKey.objects.filter(server=server).delete()
    VirtualKey.objects.bulk_create(
        [
            VirtualKey(
                server=server,
                token_hash=f"{n:064x}",
                key_alias=f"bench key {n}",
                key_name=f"sk-...{n:04d}",
                owner=f"person{n}@example.com",
                plan=plans[n % 3],
                max_budget=Decimal(50),
                budget_duration="30d",
                budget_reset_at=next_month,
                spend=Decimal(n % 60),
                status="active",
            )
            for n in range(KEYS)
        ],
        batch_size=1000,
    )
    key_ids = list(VirtualKey.objects.filter(server=server).order_by("pk").values_list("pk", flat=True))
    chat = LibreChatServer.objects.get_or_create(
        name="bench-chat", defaults={"api_url": "http://librechat:3080", "network": "backend-dev"}
    )[0]
    pairing = Pairing.objects.get_or_create(
        librechat_server=chat,
        defaults={"litellm_server": server, "endpoint_name": "LiteLLM", "default_plan": plans[0]},
    )[0]
    if pairing.litellm_server_id != server.pk:
        Pairing.objects.filter(pk=pairing.pk).update(litellm_server=server)
    if not User.objects.filter(email=PERSON_EMAIL).exists():
        User.objects.create_user(email=PERSON_EMAIL, password=None, email_verified_at=now, approved_at=now)
    person = User.objects.get(email=PERSON_EMAIL)
    PersonalKey.objects.update_or_create(
        person=person,
        defaults={"pairing": pairing, "plan": plans[0], "key_id": key_ids[7], "status": "ready"},
    )
    return key_ids, key_ids[7]


def _fill(rows: int, key_ids: list[int]) -> int:
    """`rows` history rows over the keys: each key's daily rows back from today (up to what
    retention keeps), the rest hourly back from this hour."""
    from django.db import connection

    from integrations.litellm.models import KeySpend

    table = KeySpend._meta.db_table
    per_key = rows // len(key_ids)
    daily, hourly = min(per_key, DAILY_KEPT), max(per_key - DAILY_KEPT, 0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
        for grain, count, unit, trunc in (("day", daily, "days", "day"), ("hour", hourly, "hours", "hour")):
            if not count:
                continue
            cursor.execute(
                f"""
                INSERT INTO {table} (key_id, grain, bucket, amount)
                SELECT k, %(grain)s, date_trunc('{trunc}', now()) - make_interval({unit} => g),
                       ((k * 7 + g) %% 100) / 1000.0 + 0.001
                FROM unnest(%(keys)s::bigint[]) AS k CROSS JOIN generate_series(0, %(count)s - 1) AS g
                """,  # noqa: S608 -- the table name from the model, the unit from this loop, values bound
                {"grain": grain, "keys": key_ids, "count": count},
            )
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        (built,) = cursor.fetchone()
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("VACUUM ANALYZE litellm_virtualkey")
    connection.set_autocommit(old_autocommit)
    return int(built)
