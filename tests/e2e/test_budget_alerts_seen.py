"""Budget alerts as people see them in a real browser: the person's /me/ line and the alerts
listed on the key's admin page, after a sync saw the key pass 80 % of its budget."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from integrations.litellm import sync
from portal.access import budget_mail
from portal.access.models import PersonalKey
from portal.accounts.models import User
from portal.connectivity import budget_alerts as staff_alerts
from portal.connectivity.models import Network
from tests.access.personal_keys.support import MASTER, drive, key_of, make_pairing, make_ready_person
from tests.connectivity.factories import make_network
from tests.e2e.conftest import ARTIFACTS
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.e2e


def sign_in(page: Any, live_server: Any, person: User) -> None:
    client = Client()
    client.force_login(person)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def test_the_person_and_staff_see_the_80_percent_alert(
    page: Any, live_server: Any, transactional_db: None
) -> None:
    with LiteLLMSimulator(master_key=MASTER, seed=15) as litellm, LibreChatSimulator() as chat:
        chat.add_user("operator@example.com", "operator-password")
        pairing = make_pairing(litellm, chat)
        person = make_ready_person(pairing)
        key = key_of(drive(PersonalKey.objects.get(person=person)))
        assert key.raw_key is not None and key.max_budget == 10
        if not Network.objects.filter(name=pairing.litellm_server.network).exists():
            make_network(name=pairing.litellm_server.network)
        litellm.set_spend(key.raw_key.reveal(), 8.4)
        sync.keys_sync(server=pairing.litellm_server)
        ids = list(key.budget_alerts.values_list("id", flat=True))
        assert len(ids) == 1
        assert budget_mail.budget_alerts_mail(alert_ids=ids) == 1
        assert staff_alerts.budget_alerts_raise(alert_ids=ids) == 1

    sign_in(page, live_server, person)
    page.goto("/me/")
    line = page.locator(".budget-alert")
    assert line.is_visible() and line.inner_text() == "You have used 80% of your budget this period."
    assert line.get_attribute("role") == "status"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "budget-alert-me.png"), full_page=True)

    sign_in(
        page,
        live_server,
        User.objects.create_superuser(email="ops@example.com", password="a long passphrase 9"),
    )
    page.goto(f"/admin/litellm/virtualkey/{key.pk}/change/")
    table = page.locator("table.budget-alerts")
    row = table.locator("tbody tr")
    assert row.count() == 1
    assert "used 80% of its budget: $8.40 of $10.00" in row.inner_text()
    assert "mailed to ann@example.com" in row.inner_text() and "staff alert #" in row.inner_text()
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "budget-alert-key-admin.png"), full_page=True)
