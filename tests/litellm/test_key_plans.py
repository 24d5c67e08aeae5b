"""Key plans: presets for the key form; editing a plan leaves issued keys alone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm import key_work, keys
from integrations.litellm.models import KeyPlan, LiteLLMServer
from portal.accounts.models import User
from tests.litellm.conftest import stored_key
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="ops@example.com", password="a long test password")
    )
    return client


def test_editing_a_plan_does_not_change_keys_already_issued(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    plan = KeyPlan.objects.create(name="staff", max_budget=Decimal("25"), rpm_limit=60)
    key = keys.key_create(server=server, alias="p", plan=plan, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    plan.max_budget = Decimal("5")
    plan.save()
    key.refresh_from_db()
    assert key.max_budget == Decimal("25") and stored_key(sim, key.token_hash)["max_budget"] == 25.0


def test_the_plan_page_says_so(staff: Client) -> None:
    plan = KeyPlan.objects.create(name="staff")
    page = staff.get(reverse("admin:litellm_keyplan_change", args=[plan.pk])).content.decode()
    assert "does <b>not</b> change them" in page


def test_the_key_form_takes_a_plan_as_its_defaults(staff: Client, server: LiteLLMServer) -> None:
    plan = KeyPlan.objects.create(
        name="interns", max_budget=Decimal("3"), budget_duration="7d", key_duration="30d"
    )
    page = staff.get(reverse("admin:litellm_virtualkey_add") + f"?plan={plan.pk}").content.decode()
    assert 'name="budget_duration" value="7d"' in page and 'name="duration" value="30d"' in page


def test_a_plan_refuses_a_bad_duration(staff: Client) -> None:
    response = staff.post(reverse("admin:litellm_keyplan_add"), {"name": "x", "budget_duration": "weekly"})
    assert response.status_code == 200 and "not a LiteLLM duration" in response.content.decode()
