"""Staff without the specific permission: no rotation, deletion or limit change of keys, no plan
change, no target defined or probed, no reveal, no export. Each answers 403 or refuses, and the
vendor is never called (the simulator's call counter stays at zero)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse

from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from portal.connectivity.models import Target
from tests.connectivity.factories import make_network, make_target
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


def view_only_request(model: Any) -> HttpRequest:
    meta = model._meta
    staff = User.objects.create_user(email=f"{meta.model_name}@example.com", password="x", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label=meta.app_label, codename=f"view_{meta.model_name}")
    )
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=staff.pk)  # fresh: no cached permissions
    return request


REGISTERED: list[Any] = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
def test_it_offers_no_action_to_staff_who_may_only_view(model: Any) -> None:
    # Every action either changes something or calls a vendor: none is for view-only staff.
    # Generic, so an action added tomorrow without `permissions=` fails here.
    model_admin = admin.site._registry[model]
    assert list(model_admin.get_actions(view_only_request(model))) == []


def test_it_still_offers_the_key_actions_to_staff_who_may_change_keys(
    staff_with: Callable[..., Client],
) -> None:
    staff = User.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_virtualkey", "change_virtualkey"])
    )
    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=staff.pk)
    actions = set(admin.site._registry[VirtualKey].get_actions(request))
    assert {"rotate_action", "block_action"} <= actions
    assert "delete_action" not in actions  # deleting takes the delete permission


@pytest.mark.parametrize("action", ["rotate_action", "delete_action", "block_action", "refresh_action"])
def test_it_refuses_key_actions_to_view_only_staff_and_calls_no_vendor(
    staff_with: Callable[..., Client], key: VirtualKey, litellm_sim: LiteLLMSimulator, action: str
) -> None:
    client = staff_with("litellm.view_virtualkey")
    response = client.post(
        reverse("admin:litellm_virtualkey_changelist"),
        {"action": action, "_selected_action": [key.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.pending_action == "" and key.status == "active"
    assert sum(litellm_sim.calls.values()) == 0


def test_it_refuses_a_key_limit_change_to_view_only_staff(
    staff_with: Callable[..., Client], key: VirtualKey, litellm_sim: LiteLLMSimulator
) -> None:
    client = staff_with("litellm.view_virtualkey")
    url = reverse("admin:litellm_virtualkey_change", args=[key.pk])
    response = client.post(url, {"key_alias": "taken-over", "max_budget": "9999"})
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.key_alias == "team-search" and sum(litellm_sim.calls.values()) == 0


def test_it_answers_403_to_the_reveal_page_without_a_key_permission(
    staff_with: Callable[..., Client], key: VirtualKey
) -> None:
    client = staff_with("litellm.view_virtualkey")
    response = client.get(reverse("admin:litellm_virtualkey_reveal", args=[key.pk]))
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.revealed_at is None  # the one reveal is still there for someone allowed


@pytest.mark.parametrize("view", ["test", "sync"])
def test_it_answers_403_to_server_test_and_sync_without_the_change_permission(
    staff_with: Callable[..., Client],
    litellm_server: LiteLLMServer,
    litellm_sim: LiteLLMSimulator,
    view: str,
) -> None:
    client = staff_with("litellm.view_litellmserver")
    response = client.post(reverse(f"admin:litellm_litellmserver_{view}", args=[litellm_server.pk]))
    assert response.status_code == 403
    assert sum(litellm_sim.calls.values()) == 0


def test_it_answers_403_to_the_yaml_export_without_the_view_permission(
    staff_with: Callable[..., Client], litellm_server: LiteLLMServer
) -> None:
    client = staff_with("litellm.view_virtualkey")
    response = client.get(reverse("admin:litellm_litellmserver_export", args=[litellm_server.pk]))
    assert response.status_code == 403


def test_it_refuses_a_plan_change_to_view_only_staff(staff_with: Callable[..., Client]) -> None:
    plan = KeyPlan.objects.create(name="standard", budget_duration="30d")
    client = staff_with("litellm.view_keyplan")
    response = client.post(
        reverse("admin:litellm_keyplan_change", args=[plan.pk]), {"name": "standard", "max_budget": "1e6"}
    )
    assert response.status_code == 403
    plan.refresh_from_db()
    assert plan.max_budget is None


def test_it_refuses_to_define_a_target_without_the_add_permission(staff_with: Callable[..., Client]) -> None:
    client = staff_with("connectivity.view_target")
    response = client.post(
        reverse("admin:connectivity_target_add"),
        {"name": "metadata", "address": "http://169.254.169.254/latest/meta-data/"},
    )
    assert response.status_code == 403
    assert not Target.objects.filter(name="metadata").exists()


def test_it_answers_403_to_check_now_without_the_change_permission(
    staff_with: Callable[..., Client], unused_tcp_port: int
) -> None:
    target = make_target(f"tcp://127.0.0.1:{unused_tcp_port}", make_network())
    client = staff_with("connectivity.view_target")
    response = client.post(reverse("admin:connectivity_target_check_now", args=[target.pk]))
    assert response.status_code == 403
    assert not target.placements.filter(last_checked_at__isnull=False).exists()


def test_it_answers_403_to_the_dashboard_without_the_view_permission(
    staff_with: Callable[..., Client],
) -> None:
    client = staff_with("connectivity.view_network")
    assert client.get(reverse("admin:connectivity_dashboard")).status_code == 403
