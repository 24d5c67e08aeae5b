"""The /me/ spend chart in a real browser: the SVG draws one bar per day and its text
alternatives (title, summary sentence, table) are there for a screen reader."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from integrations.litellm.models import KeySpend, SpendGrain
from portal.access.models import PersonalKey
from tests.access.personal_keys.support import MASTER, drive, key_of, make_pairing, make_ready_person
from tests.e2e.conftest import ARTIFACTS
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.e2e


def test_the_spend_chart_draws_in_a_browser_with_its_text_alternatives(
    page: Any, live_server: Any, transactional_db: None
) -> None:
    with LiteLLMSimulator(master_key=MASTER, seed=14) as litellm, LibreChatSimulator() as chat:
        chat.add_user("operator@example.com", "operator-password")
        person = make_ready_person(make_pairing(litellm, chat))
        key = key_of(drive(PersonalKey.objects.get(person=person)))
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        for back in range(0, 30, 3):
            amount = Decimal(back % 7) / 4 + Decimal("0.1")
            KeySpend.objects.create(
                key=key, grain=SpendGrain.DAY, bucket=today - dt.timedelta(days=back), amount=amount
            )
        client = Client()
        client.force_login(person)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
        page.goto("/me/")
        chart = page.get_by_role("img", name="Spend per day, last 30 days")
        assert chart.is_visible()
        assert page.locator("svg rect").count() == 30
        assert chart.get_attribute("aria-labelledby") == "spend-svg-title spend-svg-desc"
        assert "spent in the last 30 days; the most on" in page.locator("#spend-svg-desc").text_content()
        assert "At this rate your budget" in page.locator(".outlook").inner_text()
        page.get_by_text("The same as a table").click()
        assert page.get_by_role("table").get_by_role("row").count() == 31  # a header and 30 days
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "spend-chart-me.png"), full_page=True)
