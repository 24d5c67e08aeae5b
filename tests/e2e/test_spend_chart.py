"""The spend charts in a real browser at 1366 px: the person's budget period on /me/ and the
admin's Spend page and key page, each SVG named for a screen reader (title, summary sentence)
with its table one click away. Screenshots in test-artifacts/."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from integrations.litellm.models import KeyPlan, KeySpend, SpendGrain, VirtualKey
from integrations.litellm.spend_windows import spend_windows_refresh
from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import MASTER, drive, key_of, make_pairing, make_ready_person
from tests.e2e.conftest import ARTIFACTS
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.e2e


def log_in_as(page: Any, live_server: Any, user: User) -> None:
    client = Client()
    client.force_login(user)
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_the_spend_charts_draw_in_a_browser_with_their_text_alternatives(
    page: Any, live_server: Any, transactional_db: None
) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    ARTIFACTS.mkdir(exist_ok=True)
    with LiteLLMSimulator(master_key=MASTER, seed=14) as litellm, LibreChatSimulator() as chat:
        chat.add_user("operator@example.com", "operator-password")
        pairing = make_pairing(litellm, chat)  # 10 USD a calendar month
        person = make_ready_person(pairing)
        key = key_of(drive(PersonalKey.objects.get(person=person)))
        now = timezone.now()
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = today.replace(day=1)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        days_in = (today - month).days + 1
        amounts = [Decimal(n % 4) / 2 + Decimal("0.25") for n in range(days_in)]
        for n, amount in enumerate(amounts):
            KeySpend.objects.create(
                key=key, grain=SpendGrain.DAY, bucket=month + dt.timedelta(n), amount=amount
            )
        VirtualKey.objects.filter(pk=key.pk).update(spend=sum(amounts), budget_reset_at=next_month)
        team = KeyPlan.objects.create(name="research team", max_budget=Decimal(40), budget_duration="30d")
        for n in range(8):  # the staff's view: other keys, some near or over budget
            other = VirtualKey.objects.create(
                server=pairing.litellm_server,
                token_hash=f"{n:064x}",
                key_alias=f"service-{n}",
                owner=f"team{n}@example.com",
                plan=team if n % 2 else None,
                max_budget=Decimal(20),
                budget_duration="30d",
                budget_reset_at=next_month,
                spend=Decimal(3 * n),
                status="active",
            )
            for back in range(0, 80, 9):
                KeySpend.objects.create(
                    key=other,
                    grain=SpendGrain.DAY,
                    bucket=today - dt.timedelta(back),
                    amount=Decimal(n) / 3 + 1,
                )
        spend_windows_refresh()

        log_in_as(page, live_server, person)
        page.goto("/me/")
        title = f"Your spend per day, from 1 {month:%B} to {next_month - dt.timedelta(1):%-d %B}"
        chart = page.get_by_role("img", name=title)
        assert chart.is_visible()
        assert "of the $10.00 budget used." in page.locator("#spend-desc").text_content()
        assert "At this rate your budget" in page.locator(".outlook").inner_text()
        page.get_by_text("The same as a table").click()
        assert page.get_by_role("table").get_by_role("row").count() == days_in + 1  # a header per day so far
        page.screenshot(path=str(ARTIFACTS / "spend-me-1366.png"), full_page=True)
        assert page_width(page) <= 1366

        staff = User.objects.create_superuser(email="ops@example.com", password="x")
        log_in_as(page, live_server, staff)
        page.goto("/admin/litellm/")
        page.get_by_role("link", name="Spend", exact=True).click()
        spenders = page.get_by_role("img", name="Top spenders, last 30 days")
        assert spenders.is_visible()
        assert "the most: service-7" in page.locator("#top-spenders-desc").text_content()
        assert page.get_by_role("img", name="Spend per plan, last 30 days").is_visible()
        near = page.get_by_role("table", name="Keys near or over their budget (80% or more used)")
        assert near.get_by_role("row").count() == 1 + 2  # service-7, -6 at 105%, 90%; -5 at 75% is not
        page.screenshot(path=str(ARTIFACTS / "spend-admin-1366.png"), full_page=True)
        assert page_width(page) <= 1366
        page.get_by_role("link", name="90 days").click()
        assert page.get_by_role("img", name="Top spenders, last 90 days").is_visible()

        page.goto(f"/admin/litellm/virtualkey/{key.pk}/change/")
        assert page.get_by_role("img", name=title.replace("Your spend", "Spend")).is_visible()
        page.screenshot(path=str(ARTIFACTS / "spend-admin-key-1366.png"), full_page=True)
        assert page_width(page) <= 1366
