"""The virtual keys admin. Every change goes through integrations.litellm.keys (rows and
intent); LiteLLM is told by the task after the admin's transaction committed, and the admin
waits a few seconds for its answer. Every key action is written to the admin log, never
with a secret.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from integrations.litellm import keys, limits
from integrations.litellm.admin.common import dispatch_keys, outcome_words
from integrations.litellm.admin.key_drift import (
    DriftFilter,
    IdleFilter,
    accept_theirs_action,
    drift_column,
    drift_urls,
    last_used_column,
    restore_ours_action,
)
from integrations.litellm.admin.spend import KeySpendChartMixin
from integrations.litellm.forms import (
    CHANGE_FIELD_TO_LITELLM,
    KeyChangeForm,
    KeyCreateForm,
)
from integrations.litellm.models import (
    KeyAction,
    KeyPlan,
    LiteLLMServer,
    VirtualKey,
)
from portal.core.admin_pages import admin_page, admin_path
from portal.core.pagination import LargeTablePaginator

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


def _key_action(action: str, label: str, description: str, *, permission: str = "change") -> Any:
    """An admin action that records `action` on every selected key (VirtualKeyAdmin._run_action)."""

    @admin.action(permissions=(permission,), description=description)
    def run(model_admin: VirtualKeyAdmin, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        model_admin._run_action(request, queryset, action, label)

    run.__name__ = f"{label}_action"
    return run


@admin.register(VirtualKey)
class VirtualKeyAdmin(KeySpendChartMixin, admin.ModelAdmin):
    list_display = (
        "alias_display",
        "server",
        "owner",
        "key_display",
        "status",
        "blocked",
        "spend_bar",
        last_used_column,
        "expires",
        "origin",
        "pending_display",
        drift_column,
    )
    list_filter = (
        "server",
        OwnerFilter,
        "blocked",
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
    actions = (
        "block_action",
        "unblock_action",
        "rotate_action",
        "delete_action",
        "refresh_action",
        restore_ours_action,
        accept_theirs_action,
    )
    change_form_template = "admin/litellm/virtualkey/change_form.html"
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
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[VirtualKey]:
        # The list never decrypts or even loads the secrets.
        return (
            super().get_queryset(request).defer("raw_key", "rotation_new_key", "metadata", "pending_changes")
        )

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

    @admin.display(description="alias", ordering="key_alias")
    def alias_display(self, obj: VirtualKey) -> str:
        return obj.key_alias or "(no alias)"

    @admin.display(description="key", ordering="key_name")
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
            return format_html("{} USD", f"{obj.spend:.2f}")
        # A <meter>, not styled spans: the Content-Security-Policy allows no inline styles.
        return format_html(
            '<meter class="spend-bar" min="0" max="{}" low="{}" high="{}" optimum="0" value="{}" '
            'title="{} of {} USD"></meter> {} / {}',
            f"{obj.max_budget:.4f}",
            f"{obj.max_budget * Decimal('0.8'):.4f}",
            f"{obj.max_budget * Decimal('0.9999'):.4f}",
            f"{min(obj.spend, obj.max_budget):.4f}",
            f"{obj.spend:.2f}",
            f"{obj.max_budget:.2f}",
            f"{obj.spend:.2f}",
            f"{obj.max_budget:.2f}",
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

    @admin.display(description="pending")
    def pending_display(self, obj: VirtualKey) -> str:
        if obj.rotation_step == keys.HANDOVER_STEP:
            return "rotate: waiting for the hand-over"
        if obj.rotation_step == keys.GRACE_STEP:
            return "rotate: grace period (both keys share the budget)"
        if obj.pending_action:
            return obj.get_pending_action_display()
        if obj.last_action_ok is False:
            return f"{obj.last_action} failed"
        return ""

    @admin.display(description="full key")
    def reveal_link(self, obj: VirtualKey) -> str:
        if keys.key_revealable(obj):
            url = reverse("admin:litellm_virtualkey_reveal", args=[obj.pk])
            return format_html('<a class="button" href="{}">Show the full key once</a>', url)
        return obj.key_name or "—"

    # --- create and change: LiteLLM first, after the admin's transaction committed

    def save_model(self, request: HttpRequest, obj: VirtualKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            wanted = limits.KeyLimits.from_values(data)
            created = keys.key_create(
                server=data["server"],
                alias=data.get("key_alias") or "",
                owner=data.get("owner") or "",
                plan=data.get("plan"),
                limits=wanted,
                keep_secret=bool(data.get("keep_secret")),
                reveal_to=request.user,
                enqueue=False,
            )
            obj.pk = created.pk
            obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
            request._litellm_dispatch = ("create", created.pk, [])  # type: ignore[attr-defined]
            return
        stored = VirtualKey.objects.get(pk=obj.pk)
        changes = {}
        for name in form.changed_data:
            if name in CHANGE_FIELD_TO_LITELLM:
                changes[CHANGE_FIELD_TO_LITELLM[name]] = data.get(name)
        if not changes:
            return
        keys.key_update_limits(key=stored, changes=changes, enqueue=False)
        request._litellm_dispatch = ("update", stored.pk, sorted(changes))  # type: ignore[attr-defined]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
        except ValueError as exc:  # e.g. another action still pending on this key
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        dispatch = getattr(request, "_litellm_dispatch", None)
        if not dispatch:
            return response
        # The admin's transaction has committed: the worker can see the row now.
        action, key_id, changed = dispatch
        result = dispatch_keys([key_id]).get(key_id)
        key = VirtualKey.objects.get(pk=key_id)
        level, words = outcome_words(result)
        what = "Create in LiteLLM" if action == "create" else "Change in LiteLLM (" + ", ".join(changed) + ")"
        self.log_change(request, key, f"{what}: {words}")
        change_url = reverse("admin:litellm_virtualkey_change", args=[key_id])
        if action == "create":
            # Django's own "added successfully" message is misleading while LiteLLM has not said yes.
            list(messages.get_messages(request))
            if result is not None and result.get("ok") is True:
                return HttpResponseRedirect(reverse("admin:litellm_virtualkey_reveal", args=[key_id]))
        messages.add_message(request, level, f"{key}: {what}: {words}")
        return HttpResponseRedirect(change_url)

    def response_add(
        self, request: HttpRequest, obj: Any, post_url_continue: str | None = None
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:litellm_virtualkey_change", args=[obj.pk]))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting only the row would leave a working key in LiteLLM: use the action instead.
        return False

    def has_delete_in_litellm_permission(self, request: HttpRequest) -> bool:
        # The "Delete in LiteLLM" action: Django's delete permission, not the row delete above.
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")

    # --- the one reveal

    def get_urls(self) -> list[Any]:
        return [
            admin_path(self, "<int:pk>/reveal/", never_cache(self.reveal_view), "litellm_virtualkey_reveal"),
            *drift_urls(self),
            *super().get_urls(),
        ]

    def reveal_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        key = get_object_or_404(VirtualKey.objects.select_related("server"), pk=pk)
        if not self.has_add_permission(request) and not self.has_change_permission(request, key):
            raise PermissionDenied
        if key.reveal_to_id is not None and key.reveal_to_id != request.user.pk:
            raise PermissionDenied("Only the staff member who created or rotated this key may see it.")
        raw = keys.key_reveal(key=key)
        if raw is None:
            messages.info(
                request, f"{key}: the full key was shown once already; only {key.key_name} remains."
            )
            return HttpResponseRedirect(reverse("admin:litellm_virtualkey_change", args=[pk]))
        self.log_change(request, key, "Showed the full key once")
        return admin_page(
            self,
            request,
            "admin/litellm/virtualkey/reveal.html",
            title=f"The new key {key}",
            key=key,
            raw_key=raw,
            change_url=reverse("admin:litellm_virtualkey_change", args=[pk]),
        )

    # --- actions

    def _run_action(
        self, request: HttpRequest, queryset: QuerySet[VirtualKey], action: str, label: str
    ) -> None:
        accepted: list[VirtualKey] = []
        for key in queryset.select_related("server"):
            try:
                keys.key_request(key=key, action=action, enqueue=False)
            except ValueError as exc:
                messages.error(request, f"{key}: {label} refused: {exc}")
                self.log_change(request, key, f"{label}: refused ({exc})")
                continue
            accepted.append(key)
        results = dispatch_keys([k.pk for k in accepted])
        for key in accepted:
            level, words = outcome_words(results.get(key.pk))
            messages.add_message(request, level, f"{key}: {label}: {words}")
            self.log_change(request, key, f"{label}: {words}")
            if action == KeyAction.ROTATE:
                keys.key_reveal_to(key_id=key.pk, user=request.user)
            if action == KeyAction.ROTATE and results.get(key.pk, {}) and (results[key.pk] or {}).get("ok"):
                url = reverse("admin:litellm_virtualkey_reveal", args=[key.pk])
                messages.info(
                    request, format_html('{}: <a href="{}">show the new key once</a>', str(key), url)
                )

    block_action = _key_action(KeyAction.BLOCK, "block", "Block in LiteLLM")
    unblock_action = _key_action(KeyAction.UNBLOCK, "unblock", "Unblock in LiteLLM")
    rotate_action = _key_action(
        KeyAction.ROTATE, "rotate", "Rotate (new key, same settings; old one deleted)"
    )
    delete_action = _key_action(
        KeyAction.DELETE, "delete", "Delete in LiteLLM", permission="delete_in_litellm"
    )
    refresh_action = _key_action(KeyAction.REFRESH, "refresh", "Refresh spend from LiteLLM")
