"""Bad input for what rotation relies on: a budget duration whose reset date LiteLLM cannot keep
across a rotation, a grace period outside its range. A sentence naming the field, no save."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm.budget_windows import window_kept_across_rotation
from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.litellm.test_admin_keys import add_form, discover
from tests.litellm.test_admin_servers import INLINE

GRACE_SENTENCE = (
    "Rotation grace period: a whole number of minutes from 0 (the old key is deleted at once) "
    "to 10080 (7 days)."
)


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def page(response: Any) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("value", ["10d", "2w", "90d", "5h", "7m"])
def test_a_plan_refuses_a_budget_duration_whose_period_a_rotation_would_restart(
    staff: Client, value: str
) -> None:
    response = staff.post(reverse("admin:litellm_keyplan_add"), {"name": "x", "budget_duration": value})
    assert response.status_code == 200
    text = page(response)
    assert f"Budget duration '{value}' would restart the budget period at every key rotation" in text
    assert "1d (midnight), 7d or 1w (Monday), 30d or 1mo (the 1st of the month)" in text
    assert not KeyPlan.objects.exists()


@pytest.mark.parametrize("value", ["1d", "7d", "1w", "30d", "1mo", "1h", "6h", "24h", "15m"])
def test_a_plan_takes_the_durations_that_reset_on_a_fixed_boundary(staff: Client, value: str) -> None:
    response = staff.post(reverse("admin:litellm_keyplan_add"), {"name": "x", "budget_duration": value})
    assert response.status_code == 302, page(response)
    assert KeyPlan.objects.get().budget_duration == value


def test_a_key_refuses_such_a_budget_duration_too(staff: Client, tx_server: LiteLLMServer) -> None:
    discover(tx_server)
    response = staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server, budget_duration="14d"))
    assert response.status_code == 200
    assert "Budget duration '14d' would restart the budget period" in page(response)
    assert not VirtualKey.objects.exists()


@pytest.mark.parametrize("value", ["-1", "10081", "abc", "1.5", "99999999999999999999"])
def test_the_server_refuses_a_grace_period_outside_its_range(
    staff: Client, tx_server: LiteLLMServer, value: str
) -> None:
    response = staff.post(
        reverse("admin:litellm_litellmserver_change", args=[tx_server.pk]),
        {
            "name": tx_server.name,
            "base_url": tx_server.base_url,
            "network": tx_server.network,
            "rotation_grace_minutes": value,
            **INLINE,
        },
    )
    assert response.status_code == 200
    assert GRACE_SENTENCE in page(response)
    tx_server.refresh_from_db()
    assert tx_server.rotation_grace_minutes == 0


@pytest.mark.parametrize(("value", "stored"), [("45", 45), ("0", 0), ("", 0), ("10080", 10080)])
def test_the_server_takes_a_grace_period_in_range(
    staff: Client, tx_server: LiteLLMServer, value: str, stored: int
) -> None:
    response = staff.post(
        reverse("admin:litellm_litellmserver_change", args=[tx_server.pk]),
        {
            "name": tx_server.name,
            "base_url": tx_server.base_url,
            "network": tx_server.network,
            "rotation_grace_minutes": value,
            **INLINE,
        },
    )
    assert response.status_code == 302, page(response)
    tx_server.refresh_from_db()
    assert tx_server.rotation_grace_minutes == stored


@pytest.mark.parametrize(
    ("duration", "kept"),
    [
        *[("daily", True), ("weekly", True), ("monthly", True), ("hourly", True), ("8h", True)],
        *[("5h", False), ("0h", False), ("2mo", False), ("soon", False), ("45m", False)],
    ],
)
def test_which_durations_keep_their_reset_date(duration: str, kept: bool) -> None:
    assert window_kept_across_rotation(duration) is kept
