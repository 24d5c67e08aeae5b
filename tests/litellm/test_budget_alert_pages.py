"""Where people meet budget alerts: the plan's field in the admin, the alerts a key's page
lists, the person's mail and the line on /me/, and the staff alert's words."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm import budget_alerts, sync
from integrations.litellm.models import BudgetAlert, KeyPlan, LiteLLMServer
from portal.access import budget_mail
from portal.accounts.models import User
from portal.connectivity import budget_alerts as staff_alerts
from portal.connectivity.models import Alert, Network
from tests.connectivity.factories import make_network
from tests.litellm.conftest import NETWORK
from tests.litellm.test_budget_alert_delivery import ann_with_key
from tests.mailbox import deliver_queued_mail
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="ops@example.com", password="a long test password")
    )
    return client


def test_the_plan_page_offers_the_thresholds_and_refuses_bad_ones_in_words(staff: Client) -> None:
    add = reverse("admin:litellm_keyplan_add")
    page = staff.get(add).content.decode()
    assert 'name="alert_thresholds" value="80, 100"' in page and "once per budget period" in page
    refused = staff.post(add, {"name": "x", "alert_thresholds": "100, \uff18\uff10"})
    assert (
        refused.status_code == 200 and "is not a whole percentage from 1 to 100" in refused.content.decode()
    )
    assert not KeyPlan.objects.filter(name="x").exists()
    assert staff.post(add, {"name": "x", "alert_thresholds": "50, 90"}).status_code == 302
    assert KeyPlan.objects.get(name="x").alert_thresholds == [50, 90]
    assert "50%, 90%" in staff.get(reverse("admin:litellm_keyplan_changelist")).content.decode()


def test_the_person_is_mailed_staff_alerted_and_both_are_listed_on_the_keys_page(
    server: LiteLLMServer, sim: LiteLLMSimulator, staff: Client
) -> None:
    network = Network.objects.filter(name=NETWORK).first() or make_network(name=NETWORK)
    person, key = ann_with_key(server)
    assert key.raw_key is not None
    sim.set_spend(key.raw_key.reveal(), 8.5)
    sync.keys_sync(server=server)
    [alert] = BudgetAlert.objects.filter(key=key)
    page = reverse("admin:litellm_virtualkey_change", args=[key.pk])
    assert "used 80% of its budget: $8.50 of $10.00" in staff.get(page).content.decode()

    assert budget_mail.budget_alerts_mail(alert_ids=[alert.pk]) == 1
    assert staff_alerts.budget_alerts_raise(alert_ids=[alert.pk]) == 1
    assert budget_mail.budget_alerts_mail(alert_ids=[alert.pk]) == 0  # once
    [mail] = deliver_queued_mail()
    assert mail.to == ["ann@example.com"] and mail.subject == "You have used 80% of your AI budget"
    assert "$8.50 of $10.00" in mail.body and "The budget resets on" in mail.body
    raised = Alert.objects.get(kind=Alert.Kind.BUDGET)
    assert raised.network == network  # the server's network files it
    assert (
        "ann@example.com" in raised.message
        and f"/admin/litellm/virtualkey/{key.pk}/change/" in raised.message
    )

    listed = staff.get(page).content.decode()
    assert "mailed to ann@example.com" in listed and f"staff alert #{raised.pk} raised" in listed

    me = Client()
    me.force_login(person)
    assert "You have used 80% of your budget this period." in me.get("/me/").content.decode()


def test_a_key_nobody_holds_goes_to_staff_only(server: LiteLLMServer) -> None:
    key = server.keys.create(token_hash="f" * 64, max_budget=Decimal("1"), spend=Decimal("1"))
    [_, alert_id] = budget_alerts.budget_alerts_check([key])  # 80 % and 100 %
    assert budget_mail.budget_alerts_mail(alert_ids=[alert_id]) == 1
    assert BudgetAlert.objects.get(pk=alert_id).person_detail == "no person holds this key (staff were told)"
    assert deliver_queued_mail() == []
