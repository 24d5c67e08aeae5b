"""The LiteLLM admin: servers, virtual keys, models, key plans.

Calls to a proxy run in tasks on its network's queue; the admin dispatches and waits a few
seconds, else reports the action as pending (the outcome lands on the row). Every key
action is written to Django's admin log, never with a secret.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from integrations.litellm import keys, limits, model_list, tasks
from integrations.litellm.forms import (
    CHANGE_FIELD_TO_LITELLM,
    KeyChangeForm,
    KeyCreateForm,
    KeyPlanForm,
    ModelAddForm,
    ServerForm,
)
from integrations.litellm.models import (
    KeyAction,
    KeyPlan,
    KeyStatus,
    LiteLLMModel,
    LiteLLMServer,
    ModelSource,
    VirtualKey,
)
from portal.core.pagination import LargeTablePaginator
from portal.core.queues import dispatch_and_wait
from portal.core.sensitive import SecretFormAdmin
from portal.core.server_address import ServerAddressAdminMixin, may_change_address

log = logging.getLogger(__name__)


def admin_wait_seconds() -> float:
    """How long a person waits for LiteLLM before the action is shown as pending."""
    from django.conf import settings

    return float(getattr(settings, "LITELLM_ADMIN_WAIT_SECONDS", 5.0))


def _dispatch_keys(key_ids: list[int], wait_seconds: float | None = None) -> dict[int, dict[str, Any] | None]:
    """Send key_apply_pending for each key to its network queue, wait (shared deadline)."""
    rows = dict(VirtualKey.objects.filter(pk__in=key_ids).values_list("pk", "server__network"))
    from portal.core.queues import network_queue_name

    sent = {}
    for pk in key_ids:
        if pk not in rows:
            continue
        try:
            sent[pk] = tasks.key_apply_pending.apply_async(
                kwargs={"key_id": pk}, queue=network_queue_name(rows[pk])
            )
        except Exception:  # broker down: the row holds the work; the beat job sends it later
            log.warning("could not enqueue key %s; the retry job will pick it up", pk, exc_info=True)
    deadline = time.monotonic() + (admin_wait_seconds() if wait_seconds is None else wait_seconds)
    results: dict[int, dict[str, Any] | None] = {}
    for pk, async_result in sent.items():
        remaining = max(0.05, deadline - time.monotonic())
        try:
            value = async_result.get(timeout=remaining, propagate=False, disable_sync_subtasks=False)
        except CeleryTimeout:
            value = None
        except Exception:  # the result backend is unreachable: report pending, the row knows
            log.warning("no result for key %s", pk, exc_info=True)
            value = None
        results[pk] = value if isinstance(value, dict) else None
    return results


def _dispatch(task: Any, *, network: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """dispatch_and_wait, but a broker that is down reads as "pending", never a 500."""
    try:
        done, result, _ = dispatch_and_wait(
            task, network=network, kwargs=kwargs, wait_seconds=admin_wait_seconds()
        )
    except Exception:
        log.warning("could not dispatch %s", getattr(task, "name", task), exc_info=True)
        return False, None
    return done, result


def _outcome_words(result: dict[str, Any] | None) -> tuple[int, str]:
    if result is None:
        return messages.WARNING, "pending: LiteLLM has not answered yet; the outcome will show on the key"
    if result.get("ok") is True:
        return messages.SUCCESS, str(result.get("detail") or "done")
    if result.get("ok") is None:
        return messages.WARNING, f"will be retried: {result.get('detail')}"
    return messages.ERROR, f"failed: {result.get('detail')}"


# --- servers ------------------------------------------------------------------------------------


class LiteLLMModelInline(admin.TabularInline):
    model = LiteLLMModel
    extra = 0
    can_delete = False
    fields = ("model_name", "provider_model", "source", "model_id")
    readonly_fields = fields
    verbose_name_plural = "models discovered"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
            path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name=f"{info}_test"),
            path("<int:pk>/sync/", self.admin_site.admin_view(self.sync_view), name=f"{info}_sync"),
            path(
                "<int:pk>/model-list.yaml",
                self.admin_site.admin_view(self.export_view),
                name=f"{info}_export",
            ),
            *super().get_urls(),
        ]

    def _check(self, request: HttpRequest, server: LiteLLMServer) -> None:
        done, result = _dispatch(tasks.server_check, network=server.network, kwargs={"server_id": server.pk})
        if not done:
            messages.warning(
                request,
                f"{server}: no answer within {admin_wait_seconds():g} s (is a worker consuming net.{server.network}?); "
                "the result will show on the server page.",
            )
        elif isinstance(result, dict) and result.get("reachable"):
            models = ", ".join(result.get("models") or []) or "none"
            messages.success(request, f"{server}: {result['diagnosis']} Models: {models}.")
        else:
            detail = result.get("diagnosis") if isinstance(result, dict) else "the check failed"
            messages.error(request, f"{server}: not reachable. {detail}")
        self.log_change(request, server, "Tested the connection")

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        server = get_object_or_404(LiteLLMServer, pk=pk)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:litellm_litellmserver_change", args=[pk]))
        self._check(request, server)
        return HttpResponseRedirect(reverse("admin:litellm_litellmserver_change", args=[pk]))

    def _sync(self, request: HttpRequest, server: LiteLLMServer) -> None:
        done, result = _dispatch(tasks.server_sync, network=server.network, kwargs={"server_id": server.pk})
        if not done:
            messages.warning(
                request, f"{server}: sync still running; its outcome will show on the server page."
            )
        elif isinstance(result, dict) and result.get("ok"):
            messages.success(request, f"{server}: {result['detail']}")
        else:
            detail = result.get("detail") if isinstance(result, dict) else result
            messages.error(request, f"{server}: sync failed: {detail}")
        self.log_change(request, server, "Started a sync of keys and models")

    def sync_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        server = get_object_or_404(LiteLLMServer, pk=pk)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        if request.method == "POST":
            self._sync(request, server)
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
    def test_connection_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            self._check(request, server)

    @admin.action(
        permissions=("change",), description="Call every model now (/health: real requests, costs money)"
    )
    def health_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            done, result = _dispatch(
                tasks.server_health, network=server.network, kwargs={"server_id": server.pk}
            )
            self.log_change(request, server, "Called every model (/health)")
            if not done or not isinstance(result, dict):
                messages.warning(request, f"{server}: /health has not answered yet (it calls every model).")
            elif "detail" in result:
                messages.error(request, f"{server}: /health failed: {result['detail']}")
            else:
                healthy = ", ".join(result["healthy"]) or "none"
                unhealthy = ", ".join(result["unhealthy"]) or "none"
                level = messages.SUCCESS if result["ok"] else messages.ERROR
                messages.add_message(request, level, f"{server}: healthy: {healthy}; unhealthy: {unhealthy}.")

    @admin.action(permissions=("change",), description="Sync keys and models now")
    def sync_action(self, request: HttpRequest, queryset: QuerySet[LiteLLMServer]) -> None:
        for server in queryset:
            self._sync(request, server)


# --- keys ---------------------------------------------------------------------------------------


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


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Expired"), ("no", "Not expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(expires__lt=now)
        if self.value() == "no":
            return queryset.filter(Q(expires__isnull=True) | Q(expires__gte=now))
        return queryset


class OverBudgetFilter(admin.SimpleListFilter):
    title = "over budget"
    parameter_name = "over_budget"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Over budget"), ("no", "Within budget")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(over_budget=True)
        if self.value() == "no":
            return queryset.filter(over_budget=False)
        return queryset


@admin.register(VirtualKey)
class VirtualKeyAdmin(admin.ModelAdmin):
    list_display = (
        "alias_display",
        "server",
        "owner",
        "key_name",
        "status",
        "blocked",
        "spend_bar",
        "expires",
        "origin",
        "pending_display",
    )
    list_filter = ("server", OwnerFilter, "blocked", ExpiredFilter, OverBudgetFilter, "status", "origin")
    # istartswith: an index-friendly prefix search on both.
    search_fields = ("^key_alias", "^owner")
    list_select_related = ("server",)
    list_per_page = 50
    paginator = LargeTablePaginator
    show_full_result_count = False
    ordering = ("-id",)
    actions = ("block_action", "unblock_action", "rotate_action", "delete_action", "refresh_action")
    change_form_template = "admin/litellm/virtualkey/change_form.html"
    _readonly = (
        "server",
        "key_name",
        "status",
        "origin",
        "plan",
        "blocked",
        "spend",
        "expires",
        "token_hash",
        "metadata",
        "pending_action",
        "next_attempt_at",
        "attempts",
        "rotation_step",
        "rotated_at",
        "last_action",
        "last_action_ok",
        "last_action_detail",
        "last_action_at",
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
                            "allowed_models",
                            "max_budget",
                            "budget_duration",
                            "soft_budget",
                            "tpm_limit",
                            "rpm_limit",
                            "max_parallel_requests",
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
                {
                    "fields": (
                        "allowed_models",
                        "max_budget",
                        "budget_duration",
                        "soft_budget",
                        "tpm_limit",
                        "rpm_limit",
                        "max_parallel_requests",
                    )
                },
            ),
            (
                "State in LiteLLM",
                {
                    "fields": (
                        "blocked",
                        "spend",
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
                        "pending_action",
                        "next_attempt_at",
                        "attempts",
                        "rotation_step",
                        "rotated_at",
                        "last_action",
                        "last_action_ok",
                        "last_action_detail",
                        "last_action_at",
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
                initial.update(
                    allowed_models=plan.allowed_models,
                    max_budget=plan.max_budget,
                    budget_duration=plan.budget_duration,
                    soft_budget=plan.soft_budget,
                    tpm_limit=plan.tpm_limit,
                    rpm_limit=plan.rpm_limit,
                    max_parallel_requests=plan.max_parallel_requests,
                    duration=plan.key_duration,
                )
        if LiteLLMServer.objects.count() == 1:
            initial.setdefault("server", LiteLLMServer.objects.get().pk)
        return initial

    # --- columns

    @admin.display(description="alias", ordering="key_alias")
    def alias_display(self, obj: VirtualKey) -> str:
        return obj.key_alias or "(no alias)"

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

    @admin.display(description="pending")
    def pending_display(self, obj: VirtualKey) -> str:
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
                enqueue=False,
            )
            VirtualKey.objects.filter(pk=created.pk).update(reveal_to=request.user)
            created.reveal_to_id = request.user.pk
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
        result = _dispatch_keys([key_id]).get(key_id)
        key = VirtualKey.objects.get(pk=key_id)
        level, words = _outcome_words(result)
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
            path(
                "<int:pk>/reveal/",
                self.admin_site.admin_view(never_cache(self.reveal_view)),
                name="litellm_virtualkey_reveal",
            ),
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
        context = {
            **self.admin_site.each_context(request),
            "title": f"The new key {key}",
            "key": key,
            "raw_key": raw,
            "opts": self.opts,
            "change_url": reverse("admin:litellm_virtualkey_change", args=[pk]),
        }
        return TemplateResponse(request, "admin/litellm/virtualkey/reveal.html", context)

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
        results = _dispatch_keys([k.pk for k in accepted])
        for key in accepted:
            level, words = _outcome_words(results.get(key.pk))
            messages.add_message(request, level, f"{key}: {label}: {words}")
            self.log_change(request, key, f"{label}: {words}")
            if action == KeyAction.ROTATE:
                VirtualKey.objects.filter(pk=key.pk).update(reveal_to=request.user)
            if action == KeyAction.ROTATE and results.get(key.pk, {}) and (results[key.pk] or {}).get("ok"):
                url = reverse("admin:litellm_virtualkey_reveal", args=[key.pk])
                messages.info(
                    request, format_html('{}: <a href="{}">show the new key once</a>', str(key), url)
                )

    @admin.action(permissions=("change",), description="Block in LiteLLM")
    def block_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        self._run_action(request, queryset, KeyAction.BLOCK, "block")

    @admin.action(permissions=("change",), description="Unblock in LiteLLM")
    def unblock_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        self._run_action(request, queryset, KeyAction.UNBLOCK, "unblock")

    @admin.action(permissions=("change",), description="Rotate (new key, same settings; old one deleted)")
    def rotate_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        self._run_action(request, queryset, KeyAction.ROTATE, "rotate")

    @admin.action(permissions=("delete_in_litellm",), description="Delete in LiteLLM")
    def delete_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        self._run_action(request, queryset, KeyAction.DELETE, "delete")

    @admin.action(permissions=("change",), description="Refresh spend from LiteLLM")
    def refresh_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        self._run_action(request, queryset, KeyAction.REFRESH, "refresh")


# --- models -------------------------------------------------------------------------------------


@admin.register(LiteLLMModel)
class LiteLLMModelAdmin(admin.ModelAdmin):
    list_display = ("model_name", "server", "provider_model", "source", "model_id", "last_synced_at")
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
            done, result = _dispatch(
                tasks.model_add,
                network=server.network,
                kwargs={
                    "server_id": server.pk,
                    "model_name": form.cleaned_data["model_name"],
                    "provider_model": form.cleaned_data["provider_model"],
                    "api_key_env": form.cleaned_data["api_key_env"],
                    "api_base": form.cleaned_data["api_base"] or "",
                },
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
        context = {
            **self.admin_site.each_context(request),
            "title": "Add a database model",
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/litellm/litellmmodel/add.html", context)

    @admin.action(
        permissions=("delete_in_litellm",), description="Delete from LiteLLM (database models only)"
    )
    def delete_from_litellm(self, request: HttpRequest, queryset: QuerySet[LiteLLMModel]) -> None:
        for model in queryset.select_related("server"):
            if model.source != ModelSource.DATABASE:
                messages.error(
                    request,
                    f"{model.model_name}: comes from the config file; edit config.yaml and restart LiteLLM instead.",
                )
                continue
            done, result = _dispatch(
                tasks.model_delete,
                network=model.server.network,
                kwargs={"model_pk": model.pk},
            )
            self.log_change(request, model.server, f"Asked LiteLLM to delete model {model.model_name!r}")
            level, words = _outcome_words(result if done else None)
            messages.add_message(request, level, f"{model.model_name}: {words}")


# --- plans --------------------------------------------------------------------------------------


@admin.register(KeyPlan)
class KeyPlanAdmin(admin.ModelAdmin):
    form = KeyPlanForm
    list_display = (
        "name",
        "max_budget",
        "budget_duration",
        "models_display",
        "rpm_limit",
        "tpm_limit",
        "rotation_days",
    )
    search_fields = ("name",)
    readonly_fields = ("existing_keys_note",)

    @admin.display(description="models")
    def models_display(self, obj: KeyPlan) -> str:
        return ", ".join(obj.allowed_models or []) or "all"

    @admin.display(description="keys already issued")
    def existing_keys_note(self, obj: KeyPlan) -> str:
        count = obj.keys.exclude(status=KeyStatus.DELETED).count() if obj.pk else 0
        return format_html(
            "{} key(s) were issued from this plan. Editing the plan does <b>not</b> change them: each key keeps "
            "the limits LiteLLM holds for it. New values apply to keys issued from now on; change an existing "
            "key on its own page.",
            count,
        )
