"""The key admin's drift and last use: a budget changed in LiteLLM by hand shows after a sync
and is fixed in one action either way (a real worker on the network queue tells LiteLLM);
the actions take the change permission; idle keys are listed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.litellm import key_work, keys, sync
from integrations.litellm.limits import KeyLimits
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.litellm.conftest import MASTER, stored_key
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker

CHANGELIST = "admin:litellm_virtualkey_changelist"


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def drifted_key(server: LiteLLMServer, sim: LiteLLMSimulator) -> VirtualKey:
    """A key the portal made at a budget of 10, raised to 20 in LiteLLM by hand, then synced."""
    limits = KeyLimits.from_values({"max_budget": Decimal("10"), "budget_duration": "30d"})
    key = keys.key_create(server=server, alias="ci-bot", limits=limits, enqueue=False)
    assert key_work.key_apply_pending(key_id=key.pk).ok is True
    key.refresh_from_db()
    answer = requests.post(
        sim.base_url + "/key/update",
        json={"key": key.token_hash, "max_budget": 20},
        headers={"Authorization": f"Bearer {MASTER}"},
        timeout=5,
    )
    assert answer.status_code == 200
    sync.keys_sync(server=server)
    return VirtualKey.objects.get(pk=key.pk)


def act(client: Client, action: str, key: VirtualKey) -> str:
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [key.pk], "post": "yes"}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_shows_drift_and_filters_by_it(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = drifted_key(tx_server, sim)
    page = staff.get(reverse(CHANGELIST), {"drift": "yes"}).content.decode()
    assert "max budget: ours 10, LiteLLM&#x27;s 20" in page and "ci-bot" in page
    assert "ci-bot" not in staff.get(reverse(CHANGELIST), {"drift": "no"}).content.decode()
    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk])).content.decode()
    assert "LiteLLM&#x27;s 20" in change and "found " in change


def test_restore_ours_in_one_action(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    key = drifted_key(tx_server, sim)

    page = act(staff, "restore_ours_action", key)

    assert "Restore our limits in LiteLLM (max budget)" in page
    assert stored_key(sim, key.token_hash)["max_budget"] == 10.0
    key.refresh_from_db()
    assert key.max_budget == Decimal("10") and key.drift_found_at is None


def test_the_change_page_answers_drift_in_one_click(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = drifted_key(tx_server, sim)
    change = reverse("admin:litellm_virtualkey_change", args=[key.pk])
    page = staff.get(change).content.decode()
    accept = reverse("admin:litellm_virtualkey_accept", args=[key.pk])
    assert f'action="{accept}"' in page and "restore ours" in page

    assert staff.get(accept).status_code == 405  # a click is a POST; a link never changes a key
    response = staff.post(accept, {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == change
    assert "Accepted LiteLLM&#x27;s limits (max budget)" in response.content.decode()
    key.refresh_from_db()
    assert key.max_budget == Decimal("20") and key.drift_found_at is None
    assert f'action="{accept}"' not in staff.get(change).content.decode()


def test_accept_theirs_in_one_action(staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = drifted_key(tx_server, sim)

    page = act(staff, "accept_theirs_action", key)

    assert "Accepted LiteLLM&#x27;s limits (max budget); the portal now holds them too." in page
    key.refresh_from_db()
    assert key.max_budget == Decimal("20") and key.drift_found_at is None
    assert stored_key(sim, key.token_hash)["max_budget"] == 20.0


def test_a_key_without_drift_is_said_to_need_nothing(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = keys.key_create(server=tx_server, alias="calm", enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    assert "has limits changed in LiteLLM; nothing to do" in act(staff, "accept_theirs_action", key)


def test_staff_who_may_only_view_keys_can_neither_restore_nor_accept(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = drifted_key(tx_server, sim)
    viewer = User.objects.create_user(
        email="view@example.com", password="a long test password", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_virtualkey"))
    client = Client()
    client.force_login(viewer)

    for action in ("restore_ours_action", "accept_theirs_action"):
        client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [key.pk], "post": "yes"})
    for button in ("admin:litellm_virtualkey_restore", "admin:litellm_virtualkey_accept"):
        assert client.post(reverse(button, args=[key.pk]), {"post": "yes"}).status_code == 403

    key.refresh_from_db()
    assert key.max_budget == Decimal("10") and key.drift_found_at is not None
    assert key.pending_action == ""
    assert stored_key(sim, key.token_hash)["max_budget"] == 20.0


def test_idle_keys_are_listed(staff: Client, tx_server: LiteLLMServer) -> None:
    now = timezone.now()
    ages = {"used-today": 0, "used-40-days-ago": 40, "used-100-days-ago": 100}
    for alias, days in ages.items():
        VirtualKey.objects.create(
            server=tx_server, key_alias=alias, status="active", last_used_at=now - dt.timedelta(days=days)
        )
    VirtualKey.objects.create(server=tx_server, key_alias="never-new", status="active")
    old = VirtualKey.objects.create(server=tx_server, key_alias="never-old", status="active")
    VirtualKey.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=45))

    def listed(choice: str) -> set[str]:
        page = staff.get(reverse(CHANGELIST), {"idle": choice}).content.decode()
        return {alias for alias in [*ages, "never-new", "never-old"] if f">{alias}<" in page}

    assert listed("never") == {"never-new", "never-old"}
    assert listed("30") == {"used-40-days-ago", "used-100-days-ago", "never-old"}
    assert listed("90") == {"used-100-days-ago"}
    everything = staff.get(reverse(CHANGELIST)).content.decode()
    assert "40 days ago" in everything and "today" in everything and "never" in everything
