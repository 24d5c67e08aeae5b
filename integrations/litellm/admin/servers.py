"""The LiteLLM servers admin: Test connection, Sync now, /health, the model_list export."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from integrations.checks import check_sentence
from integrations.litellm import model_list, tasks
from integrations.litellm.admin.common import admin_wait_seconds
from integrations.litellm.forms import (
    ServerForm,
)
from integrations.litellm.models import (
    LiteLLMModel,
    LiteLLMServer,
)
from integrations.litellm.servers import server_queue
from portal.core.admin_pages import admin_path
from portal.core.confirm import confirm_first
from portal.core.queues import dispatch_and_wait
from portal.core.sensitive import SecretFormAdmin
from portal.core.server_address import ServerAddressAdminMixin
from portal.core.task_wait import waiting

log = logging.getLogger(__name__)


class LiteLLMModelInline(admin.TabularInline):
    model = LiteLLMModel
    extra = 0
    can_delete = False
    fields = ("model_name", "provider_model", "source", "model_id")
    readonly_fields = fields
    verbose_name_plural = "models discovered"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _ask(task: Any, server: LiteLLMServer) -> tuple[bool, Any, str]:
    """Run a server's task on its network's queue: (done, result, why not done yet), where
    "why" comes from the task's state and the worker's heartbeat: no worker, or LiteLLM slow."""
    done, result, task_id = dispatch_and_wait(
        task, network=server.network, kwargs={"server_id": server.pk}, wait_seconds=admin_wait_seconds()
    )
    why = "" if done else waiting(queue=server_queue(server), task_id=task_id, vendor="LiteLLM").sentence
    return done, result, why


@admin.register(LiteLLMServer)
class LiteLLMServerAdmin(ServerAddressAdminMixin, SecretFormAdmin):
    form = ServerForm
    address_fields = ("base_url", "network")
    change_form_template = "admin/litellm/litellmserver/change_form.html"
    list_display = (
        "name",
        "base_url",
        "network",
        "check_status",
        "litellm_version",
        "checked_at",
        "keys_synced_at",
    )
    search_fields = ("name", "base_url")
    readonly_fields = (
        "master_key_display",
        "check_status",
        "checked_at",
        "check_diagnosis",
        "litellm_version",
        "db_status",
        "keys_synced_at",
        "models_synced_at",
        "sync_status",
    )
    fieldsets = (
        (None, {"fields": ("name", "base_url", "network", "master_key_display", "master_key_input")}),
        (
            "Last check",
            {"fields": ("check_status", "checked_at", "check_diagnosis", "litellm_version", "db_status")},
        ),
        ("Sync", {"fields": ("keys_synced_at", "models_synced_at", "sync_status")}),
        ("Staff key rotation", {"fields": ("rotation_grace_minutes",)}),
    )
    inlines = (LiteLLMModelInline,)
    actions = ("test_connection_action", "sync_action", "health_action")

    @admin.display(description="master key")
    def master_key_display(self, obj: LiteLLMServer) -> str:
        key = obj.master_key if obj.pk else None
        return key.masked() if key else "—"

    def get_urls(self) -> list[Any]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            admin_path(self, "<int:pk>/test/", self.test_view, f"{info}_test"),
            admin_path(self, "<int:pk>/sync/", self.sync_view, f"{info}_sync"),
            admin_path(self, "<int:pk>/model-list.yaml", self.export_view, f"{info}_export"),
            *super().get_urls(),
        ]

    def _check(self, request: HttpRequest, server: LiteLLMServer) -> None:
        done, result, why = _ask(tasks.server_check, server)
        if not done:
            messages.warning(
                request,
                f"{server}: no answer within {admin_wait_seconds():g} s: {why}; "
                "the result will show on the server page.",
            )
        elif isinstance(result, dict):
            level = messages.SUCCESS if result.get("ok") else messages.ERROR
            messages.add_message(request, level, f"{server}: {check_sentence(result)}")
        else:
            messages.error(request, f"{server}: the check failed without an answer; see the worker's log.")
        self.log_change(request, server, "Tested the connection")

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._server_button(request, pk, self._check)

    def _sync(self, request: HttpRequest, server: LiteLLMServer) -> None:
        done, result, why = _ask(tasks.server_sync, server)
        if not done:
            messages.warning(
                request, f"{server}: sync not finished yet ({why}); its outcome will show on the server page."
            )
        elif isinstance(result, dict) and result.get("ok"):
            messages.success(request, f"{server}: {result['detail']}")
        else:
            detail = result.get("detail") if isinstance(result, dict) else result
            messages.error(request, f"{server}: sync failed: {detail}")
        self.log_change(request, server, "Started a sync of keys and models")

    def sync_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._server_button(request, pk, self._sync)

    def _server_button(
        self, request: HttpRequest, pk: int, act: Callable[[HttpRequest, LiteLLMServer], None]
    ) -> HttpResponse:
        """A button of the server page: `act` on a POST by staff who may change the server,
        then back to the server page."""
        server = get_object_or_404(LiteLLMServer, pk=pk)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        if request.method == "POST":
            act(request, server)
        return HttpResponseRedirect(reverse("admin:litellm_litellmserver_change", args=[pk]))

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        server = get_object_or_404(LiteLLMServer, pk=pk)
        if not self.has_view_permission(request, server):
            raise PermissionDenied
        text = model_list.models_export_yaml(server=server)
        response = HttpResponse(text, content_type="text/yaml; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{server.name}-model_list.yaml"'
        return response

    @admin.action(permissions=("change",), description="Test connection")
    @confirm_first(
        consequences=["Each server's health and master key are checked now; nothing changes in LiteLLM."]
    )
    def test_connection_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            self._check(request, server)

    @admin.action(
        permissions=("change",), description="Call every model now (/health: real requests, costs money)"
    )
    @confirm_first(
        consequences=[
            "LiteLLM sends a real request to every model of each server: each costs what a request "
            "to that model costs, and a slow model holds the answer."
        ]
    )
    def health_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            done, result, why = _ask(tasks.server_health, server)
            self.log_change(request, server, "Called every model (/health)")
            if not done or not isinstance(result, dict):
                messages.warning(
                    request, f"{server}: /health has not answered yet ({why or 'it calls every model'})."
                )
            elif "detail" in result:
                messages.error(request, f"{server}: /health failed: {result['detail']}")
            else:
                healthy = ", ".join(result["healthy"]) or "none"
                unhealthy = ", ".join(result["unhealthy"]) or "none"
                level = messages.SUCCESS if result["ok"] else messages.ERROR
                messages.add_message(request, level, f"{server}: healthy: {healthy}; unhealthy: {unhealthy}.")

    @admin.action(permissions=("change",), description="Sync keys and models now")
    @confirm_first(
        consequences=[
            "Each server's keys and models are read from LiteLLM: keys found only there are "
            "adopted (found in LiteLLM), keys LiteLLM no longer has are marked missing."
        ]
    )
    def sync_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            self._sync(request, server)
