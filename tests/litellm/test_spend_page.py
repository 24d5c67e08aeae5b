"""The admin's Spend page: top spenders over 30 or 90 days, totals per plan and per server,
keys near or over budget with a forecast; the small chart on a key's page. Bounded reads: the
same queries with a hundred times the history."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.litellm.models import (
    KeyPlan,
    KeySpend,
    KeySpendWindow,
    LiteLLMServer,
    SpendGrain,
    VirtualKey,
)
from integrations.litellm.spend_windows import spend_windows_refresh
from portal.accounts.models import User

pytestmark = pytest.mark.django_db

URL = "/admin/litellm/keyspendwindow/"


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x"))
    return client


def midnight(days_ago: int) -> dt.datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=days_ago)


def key(server: LiteLLMServer, alias: str, *, plan: KeyPlan | None = None, **values: object) -> VirtualKey:
    return VirtualKey.objects.create(
        server=server,
        token_hash=hashlib.sha256(alias.encode()).hexdigest(),
        key_alias=alias,
        plan=plan,
        **values,
    )


def spent(k: VirtualKey, *amounts: tuple[int, str]) -> None:
    KeySpend.objects.bulk_create(
        KeySpend(key=k, grain=SpendGrain.DAY, bucket=midnight(ago), amount=Decimal(a)) for ago, a in amounts
    )


def test_top_spenders_switch_between_30_and_90_days_with_totals_per_plan_and_server(
    server: LiteLLMServer, staff: Client
) -> None:
    team = KeyPlan.objects.create(name="team", max_budget=Decimal(100), budget_duration="30d")
    ann, bob = key(server, "ann", plan=team), key(server, "bob")
    spent(ann, (0, "2"), (10, "3"))  # 5 in 30 days
    spent(bob, (1, "1"), (60, "40"))  # 1 in 30 days, 41 in 90
    gone = key(server, "gone")
    KeySpendWindow.objects.create(key=gone, days=30, amount=9, computed_at=midnight(1))  # stale
    spend_windows_refresh()
    assert not KeySpendWindow.objects.filter(key=gone).exists()

    page = staff.get(URL).content.decode()
    assert page.index(">ann</text>") < page.index(">bob</text>")
    assert '<title id="top-spenders-title">Top spenders, last 30 days</title>' in page
    assert "$6.00 across the 2 keys shown; the most: ann ($5.00)." in page
    assert '<title id="per-plan-title">Spend per plan, last 30 days</title>' in page
    assert "<td>team</td><td>$5.00</td>" in page and "<td>no plan</td><td>$1.00</td>" in page
    assert f"<td>{server.name}</td><td>$6.00</td>" in page

    page = staff.get(URL + "?days=90").content.decode()
    assert "$46.00 across the 2 keys shown; the most: bob ($41.00)." in page
    assert '<strong aria-current="page">90 days</strong>' in page


def test_a_span_the_page_does_not_keep_gets_a_sentence_not_an_error(staff: Client) -> None:
    answer = staff.get(URL + "?days=7%27%3B")
    assert answer.status_code == 200
    assert (
        "Showing 30 days: &#x27;7&#x27;;&#x27; is not a span this page keeps (30 or 90)."
        in answer.content.decode()
    )
    assert "No spend recorded in the last 30 days." in answer.content.decode()


def test_keys_near_or_over_budget_come_fullest_first_with_a_forecast(
    server: LiteLLMServer, staff: Client
) -> None:
    reset = midnight(0) + dt.timedelta(days=20)
    key(
        server,
        "over",
        max_budget=Decimal(10),
        spend=Decimal(12),
        budget_duration="30d",
        budget_reset_at=reset,
    )
    near = key(
        server,
        "near",
        max_budget=Decimal(10),
        spend=Decimal("8.5"),
        budget_duration="",
        owner="cy@example.com",
    )
    key(server, "calm", max_budget=Decimal(10), spend=Decimal(1))
    key(server, "unlimited", spend=Decimal(500))
    spent(near, (0, "1"), (1, "1"))
    spend_windows_refresh()
    page = staff.get(URL).content.decode()
    table = page[page.index('id="near-budget"') :]
    assert (
        table.index(">over</a>") < table.index(">near</a>")
        and "calm" not in table
        and "unlimited" not in table
    )
    assert f"used up; resets {reset:%-d %b}" in table
    # No budget period: the last 30 days' rate, 2 in 30 days; 1.5 left lasts 22 more days.
    assert f"runs out on {(timezone.now() + dt.timedelta(days=22.5)):%-d %b %Y}" in table
    assert "<td>85%</td>" in table and "<td>120%</td>" in table


def test_the_page_costs_the_same_queries_with_a_hundred_times_the_history(
    server: LiteLLMServer, staff: Client
) -> None:
    plans = [KeyPlan.objects.create(name=f"plan {n}", max_budget=Decimal(50)) for n in range(3)]
    keys = [
        key(server, f"k{n}", plan=plans[n % 3], max_budget=Decimal(5), spend=Decimal(n)) for n in range(40)
    ]
    for k in keys[:4]:
        spent(k, (0, "1"))
    spend_windows_refresh()
    staff.get(URL)  # the session, the content types: cached from here on
    with CaptureQueriesContext(connection) as few:
        assert staff.get(URL).status_code == 200
    KeySpend.objects.bulk_create(
        KeySpend(key=k, grain=SpendGrain.DAY, bucket=midnight(ago), amount=Decimal("0.5"))
        for k in keys
        for ago in range(1, 100)
    )
    spend_windows_refresh()
    with CaptureQueriesContext(connection) as many:
        assert staff.get(URL + "?days=90").status_code == 200
    assert len(many) == len(few)
    assert not any(
        'litellm_keyspend"' in q["sql"] or "litellm_keyspend " in q["sql"] for q in many.captured_queries
    )


def test_a_keys_page_shows_its_spend_per_day_with_the_forecast(server: LiteLLMServer, staff: Client) -> None:
    k = key(server, "ann", max_budget=Decimal(10), spend=Decimal(3))
    spent(k, (0, "1"), (2, "2"))
    page = staff.get(f"/admin/litellm/virtualkey/{k.pk}/change/").content.decode()
    assert '<title id="key-spend-title">Spend per day, over the last 30 days</title>' in page
    assert "$3.00 spent in these 30 days; the most on" in page and "$3.00 of the $10.00 budget used." in page
    assert "At this rate: runs out on" in page


def test_staff_given_the_spend_page_alone_see_names_not_links_that_refuse_them(
    server: LiteLLMServer, client: Client
) -> None:
    from django.contrib.auth.models import Permission

    person = User.objects.create_user(email="person@example.com", password=None)
    full = key(
        server,
        "team-full",
        max_budget=Decimal(10),
        spend=Decimal(9),
        metadata={"portal_person_id": person.pk},
    )
    spent(full, (0, "3"))
    spend_windows_refresh()
    analyst = User.objects.create_user(email="analyst@example.com", password="a long pass 123")
    User.objects.filter(pk=analyst.pk).update(is_staff=True)
    analyst.user_permissions.add(Permission.objects.get(codename="view_keyspendwindow"))
    client.force_login(analyst)
    page = client.get(URL).content.decode()
    assert "team-full" in page
    key_page = f"/admin/litellm/virtualkey/{full.pk}/change/"
    assert key_page not in page and f"/admin/accounts/user/{person.pk}/change/" not in page
    assert client.get(key_page).status_code == 403  # what the link would have led to

    analyst.user_permissions.add(
        Permission.objects.get(codename="view_virtualkey"), Permission.objects.get(codename="view_user")
    )
    page = client.get(URL).content.decode()
    assert key_page in page and f"/admin/accounts/user/{person.pk}/change/" in page
