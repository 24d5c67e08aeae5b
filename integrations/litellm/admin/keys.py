"""The virtual keys admin: its list (columns, filters) and its pages' fields. What it does
(create, change, reveal, the actions) is in key_actions.py. Every change goes through
integrations.litellm.keys (rows and intent); LiteLLM is told by the task after the admin's
transaction committed, and the admin waits a few seconds for its answer.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from integrations.litellm import keys, limits
from integrations.litellm.admin.budget_alerts import budget_alerts_display
from integrations.litellm.admin.key_actions import KeyActionsMixin
from integrations.litellm.admin.key_columns import alias_column, state_column
from integrations.litellm.admin.key_drift import (
    DriftFilter,
    IdleFilter,
    drift_column,
    last_used_column,
)
from integrations.litellm.admin.spend import KeySpendChartMixin
from integrations.litellm.forms import (
    KeyChangeForm,
    KeyCreateForm,
)
from integrations.litellm.models import (
    KeyPlan,
    KeyStatus,
    LiteLLMServer,
    VirtualKey,
)
from portal.core.money import usd
from portal.core.pagination import LargeTablePaginator
from portal.core.task_wait import heartbeats_read_once

log = logging.getLogger(__name__)


class OwnerFilter(admin.SimpleListFilter):
    """A text box, not a list: a million keys have too many owners to list (exact match, indexed)."""

    title = "owner"
    parameter_name = "owner"
    template = "admin/litellm/text_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(owner=value) if value else queryset

    def choices(self, changelist: Any) -> Any:
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "others": [
                (k, v) for k, v in changelist.get_filters_params().items() if k != self.parameter_name
            ],
        }


class YesNoFilter(admin.SimpleListFilter):
    """A filter of two choices, "yes" (`yes_label`) and "no" (`no_label`): the rows where
    `condition(True)`, or where `condition(False)`, holds."""

    yes_label = "Yes"
    no_label = "No"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", self.yes_label), ("no", self.no_label)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(self.condition(self.value() == "yes"))
        return queryset

    def condition(self, yes: bool) -> Q:
        raise NotImplementedError


class ExpiredFilter(YesNoFilter):
    title = "expired"
    parameter_name = "expired"
    yes_label, no_label = "Expired", "Not expired"

    def condition(self, yes: bool) -> Q:
        now = timezone.now()
        return Q(expires__lt=now) if yes else Q(expires__isnull=True) | Q(expires__gte=now)


class OverBudgetFilter(YesNoFilter):
    title = "over budget"
    parameter_name = "over_budget"
    yes_label, no_label = "Over budget", "Within budget"

    def condition(self, yes: bool) -> Q:
        return Q(over_budget=yes)


class StateFilter(admin.SimpleListFilter):
    """The choices read as the state column does (key_columns.state_words): "active" is a key
    LiteLLM holds and lets through, "blocked" any blocked key (a boolean filter said Yes/No)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("blocked", "blocked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(status=KeyStatus.ACTIVE, blocked=False)
        if self.value() == "blocked":
            return queryset.filter(blocked=True)
        return queryset


# What LiteLLM still has to be told about a key, and how the last attempt went.
_WORK_IN_FLIGHT = (
    "pending_action",
    "next_attempt_at",
    "attempts",
    "rotation_step",
    "rotation_old_name",
    "rotation_retire_at",
    "rotated_at",
    "last_action",
    "last_action_ok",
    "last_action_detail",
    "last_action_at",
)


@admin.register(VirtualKey)
class VirtualKeyAdmin(KeySpendChartMixin, KeyActionsMixin, admin.ModelAdmin):
    # Fits 1366 px (key_columns): owner and server under the alias, expiry and origin on the row.
    list_display = (alias_column, "key_display", state_column, "spend_bar", last_used_column)
    list_filter = (
        "server",
        OwnerFilter,
        StateFilter,
        ExpiredFilter,
        OverBudgetFilter,
        IdleFilter,
        DriftFilter,
        "status",
        "origin",
    )
    # istartswith: an index-friendly prefix search on both.
    search_fields = ("^key_alias", "^owner")
    list_select_related = ("server",)
    list_per_page = 50
    paginator = LargeTablePaginator
    show_full_result_count = False
    ordering = ("-id",)
    _readonly = (
        "server",
        "key_name",
        "status",
        "origin",
        "plan",
        "blocked",
        "spend",
        "spend_chart",
        "budget_reset_at",
        "last_used_at",
        "drift_display",
        "expires",
        "token_hash",
        "metadata",
        *_WORK_IN_FLIGHT,
        "last_synced_at",
        "litellm_created_at",
        "created_at",
        "reveal_link",
        budget_alerts_display,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[VirtualKey]:
        # The list never decrypts or even loads the secrets.
        return (
            super().get_queryset(request).defer("raw_key", "rotation_new_key", "metadata", "pending_changes")
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Every pending row says whether its queue's worker was heard: one read per queue, not
        # per row. Rendered here, inside the block (a TemplateResponse renders after return).
        response = super().changelist_view(request, extra_context)
        with heartbeats_read_once():
            return response.render() if isinstance(response, TemplateResponse) else response

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = KeyChangeForm if obj is not None else KeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return (
                (None, {"fields": ("server", "key_alias", "owner", "plan", "keep_secret")}),
                (
                    "Limits (empty = the plan's value, or none)",
                    {
                        "fields": (
                            *limits.ROW_FIELDS,
                            "duration",
                        )
                    },
                ),
            )
        return (
            (
                None,
                {
                    "fields": (
                        "server",
                        "key_alias",
                        "owner",
                        "key_name",
                        "status",
                        "origin",
                        "plan",
                        "reveal_link",
                    )
                },
            ),
            (
                "Limits (changed in LiteLLM first)",
                {"fields": (*limits.ROW_FIELDS, "drift_display")},
            ),
            (
                "State in LiteLLM",
                {
                    "fields": (
                        "blocked",
                        "spend",
                        "spend_chart",
                        "budget_reset_at",
                        "last_used_at",
                        "expires",
                        "token_hash",
                        "metadata",
                        "litellm_created_at",
                        "last_synced_at",
                    )
                },
            ),
            ("Budget alerts", {"fields": (budget_alerts_display,)}),
            (
                "Work in flight",
                {
                    "fields": (
                        *_WORK_IN_FLIGHT,
                        "created_at",
                    )
                },
            ),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self._readonly if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        plan_id = request.GET.get("plan")
        if plan_id and str(plan_id).isdigit():
            plan = KeyPlan.objects.filter(pk=plan_id).first()
            if plan:
                initial.update(limits.KeyLimits.from_plan(plan).row_values(), duration=plan.key_duration)
        if LiteLLMServer.objects.count() == 1:
            initial.setdefault("server", LiteLLMServer.objects.get().pk)
        return initial

    # --- columns

    @admin.display(description="LiteLLM key", ordering="key_name")
    def key_display(self, obj: VirtualKey) -> str:
        """The key; during a rotation's grace period or hand-over also the old one, which
        still works (both are in LiteLLM until it is deleted)."""
        if not (obj.rotation_old_hash and obj.rotation_step in (keys.GRACE_STEP, keys.HANDOVER_STEP)):
            return obj.key_name
        old = obj.rotation_old_name or "the old key"
        until = (
            f"until {obj.rotation_retire_at:%Y-%m-%d %H:%M} UTC"
            if obj.rotation_retire_at
            else "until the hand-over"
        )
        return format_html("{}<br>{} retiring {}", obj.key_name, old, until)

    @admin.display(description="spend / budget")
    def spend_bar(self, obj: VirtualKey) -> str:
        if obj.max_budget is None or obj.max_budget <= 0:
            return format_html("{} USD", usd(obj.spend))
        # A <meter>, not styled spans: the Content-Security-Policy allows no inline styles.
        return format_html(
            '<meter class="spend-bar" min="0" max="{}" low="{}" high="{}" optimum="0" value="{}" '
            'title="{} of {} USD"></meter> {} / {}',
            f"{obj.max_budget:.4f}",
            f"{obj.max_budget * Decimal('0.8'):.4f}",
            f"{obj.max_budget * Decimal('0.9999'):.4f}",
            f"{min(obj.spend, obj.max_budget):.4f}",
            usd(obj.spend),
            usd(obj.max_budget),
            usd(obj.spend),
            usd(obj.max_budget),
        )

    @admin.display(description="changed in LiteLLM")
    def drift_display(self, obj: VirtualKey) -> str:
        found = drift_column(obj)
        if not found:
            return "no: LiteLLM holds the limits above"
        return format_html(
            "{}<div>found {} UTC; answer with the buttons above: restore ours, or accept LiteLLM's</div>",
            found,
            f"{obj.drift_found_at:%Y-%m-%d %H:%M}",
        )

    @admin.display(description="full key")
    def reveal_link(self, obj: VirtualKey) -> str:
        if keys.key_revealable(obj):
            url = reverse("admin:litellm_virtualkey_reveal", args=[obj.pk])
            return format_html('<a class="button" href="{}">Show the full key once</a>', url)
        return obj.key_name or "—"
