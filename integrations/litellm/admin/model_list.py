"""The LiteLLM models admin: database models are added and deleted through LiteLLM; config
file models are read-only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from integrations.litellm import tasks
from integrations.litellm.admin.common import admin_wait_seconds, outcome_words
from integrations.litellm.forms import (
    ModelAddForm,
)
from integrations.litellm.models import (
    LiteLLMModel,
    ModelSource,
)
from portal.core.admin_pages import admin_page
from portal.core.confirm import confirm_first
from portal.core.queues import dispatch_and_wait
from portal.core.server_address import may_change_address

log = logging.getLogger(__name__)


@admin.register(LiteLLMModel)
class LiteLLMModelAdmin(admin.ModelAdmin):
    # Fits 1366 px: LiteLLM's model ID (a long hash) is on the row's page.
    list_display = ("model_name", "server", "provider_model", "source", "last_synced_at")
    list_filter = ("server", "source")
    search_fields = ("model_name", "provider_model")
    list_select_related = ("server",)
    readonly_fields = (
        "server",
        "model_name",
        "provider_model",
        "source",
        "model_id",
        "litellm_params",
        "source_note",
    )
    actions = ("delete_from_litellm",)

    @admin.display(description="editable?")
    def source_note(self, obj: LiteLLMModel) -> str:
        if obj.source == ModelSource.CONFIG:
            return (
                "No: this model comes from the proxy's config file. Change config.yaml (the server page "
                "exports a ready model_list block) and restart LiteLLM."
            )
        return "Stored in the proxy's database: it can be deleted here."

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_in_litellm_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ModelAddForm(
            request.POST if request.method == "POST" else None,
            may_set_address=may_change_address(request.user, self.opts.app_label),
        )
        if request.method == "POST" and form.is_valid():
            server = form.cleaned_data["server"]
            done, result, _ = dispatch_and_wait(
                tasks.model_add,
                network=server.network,
                kwargs={
                    "server_id": server.pk,
                    "model_name": form.cleaned_data["model_name"],
                    "provider_model": form.cleaned_data["provider_model"],
                    "api_key_env": form.cleaned_data["api_key_env"],
                    "api_base": form.cleaned_data["api_base"] or "",
                },
                wait_seconds=admin_wait_seconds(),
            )
            self.log_change(
                request, server, f"Asked LiteLLM to add model {form.cleaned_data['model_name']!r}"
            )
            if done and isinstance(result, dict) and result.get("ok"):
                messages.success(request, result["detail"])
                return HttpResponseRedirect(reverse("admin:litellm_litellmmodel_changelist"))
            if not done:
                messages.warning(
                    request, "LiteLLM has not answered yet; the model will appear after the next sync."
                )
                return HttpResponseRedirect(reverse("admin:litellm_litellmmodel_changelist"))
            form.add_error(None, str(result.get("detail") if isinstance(result, dict) else result))
        return admin_page(
            self, request, "admin/litellm/litellmmodel/add.html", title="Add a database model", form=form
        )

    @admin.action(
        permissions=("delete_in_litellm",), description="Delete from LiteLLM (database models only)"
    )
    @confirm_first(
        consequences=[
            "Each database model is deleted from its LiteLLM: requests naming it fail from then on, "
            "for every key. Models from config.yaml are left alone (edit that file instead)."
        ]
    )
    def delete_from_litellm(self, request: HttpRequest, queryset: QuerySet[LiteLLMModel]) -> None:
        for model in queryset.select_related("server"):
            if model.source != ModelSource.DATABASE:
                messages.error(
                    request,
                    f"{model.model_name}: comes from the config file; edit config.yaml and restart LiteLLM instead.",
                )
                continue
            done, result, _ = dispatch_and_wait(
                tasks.model_delete,
                network=model.server.network,
                kwargs={"model_pk": model.pk},
                wait_seconds=admin_wait_seconds(),
            )
            self.log_change(request, model.server, f"Asked LiteLLM to delete model {model.model_name!r}")
            level, words = outcome_words(result if done else None)
            messages.add_message(request, level, f"{model.model_name}: {words}")
