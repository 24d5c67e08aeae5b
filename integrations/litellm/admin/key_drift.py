"""The key admin's view of use and drift: the "last used" and "changed in LiteLLM" columns, the
idle and drift filters, and the two one-click answers to drift ("restore ours", "accept
LiteLLM's"). Each action is written to the admin log; rows change through
integrations.litellm.drift only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from integrations.litellm import drift
from integrations.litellm.admin.common import dispatch_keys, outcome_words
from integrations.litellm.last_use import IDLE_CHOICES, idle_condition, last_used_words
from integrations.litellm.models import VirtualKey
from portal.core.admin_pages import admin_path
from portal.core.confirm import confirm_first


class IdleFilter(admin.SimpleListFilter):
    title = "last used"
    parameter_name = "idle"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return IDLE_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        condition = idle_condition(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset


class DriftFilter(admin.SimpleListFilter):
    title = "limits changed in LiteLLM"
    parameter_name = "drift"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return (("yes", "Changed in LiteLLM"), ("no", "As the portal set them"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            found = Q(drift_found_at__isnull=False)
            return queryset.filter(found if self.value() == "yes" else ~found)
        return queryset


@admin.display(description="last used", ordering="last_used_at")
def last_used_column(key: VirtualKey) -> str:
    return last_used_words(key.last_used_at)


@admin.display(description="changed in LiteLLM")
def drift_column(key: VirtualKey) -> str:
    differences = drift.drift_differences(key)
    if not differences:
        return ""
    return format_html_join("", "<div>{}</div>", ((str(d),) for d in differences))


NO_DRIFT = "None of the selected keys has limits changed in LiteLLM; nothing to do."


def _words(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ") for name in names)


@admin.action(permissions=("change",), description="Limits changed in LiteLLM: restore ours")
@confirm_first(
    consequences=["LiteLLM is told the portal's limits again for each key, replacing what was changed there."]
)
def restore_ours_action(model_admin: Any, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
    accepted: dict[int, tuple[VirtualKey, list[str]]] = {}
    drifted = list(queryset.filter(drift_found_at__isnull=False).select_related("server"))
    if not drifted:
        messages.info(request, NO_DRIFT)
    for key in drifted:
        try:
            names = drift.key_restore_ours(key=key, enqueue=False)
        except ValueError as exc:
            messages.error(request, f"{key}: not restored: {exc}.")
            continue
        accepted[key.pk] = (key, names)
    results = dispatch_keys(list(accepted))
    for pk, (key, names) in accepted.items():
        level, words = outcome_words(results.get(pk))
        what = "Restore our limits in LiteLLM (" + _words(names) + ")"
        if "budget_duration" in names:  # LiteLLM computes a new budget_reset_at on update
            what += "; LiteLLM starts a new budget period with the restored duration"
        messages.add_message(request, level, f"{key}: {what}: {words}")
        model_admin.log_change(request, key, f"{what}: {words}")


@admin.action(permissions=("change",), description="Limits changed in LiteLLM: accept LiteLLM's")
@confirm_first(
    consequences=[
        "The portal takes the limits LiteLLM holds for each key as its own; LiteLLM is not changed."
    ]
)
def accept_theirs_action(model_admin: Any, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
    drifted = list(queryset.filter(drift_found_at__isnull=False))
    if not drifted:
        messages.info(request, NO_DRIFT)
    for key in drifted:
        try:
            names = drift.key_accept_theirs(key=key)
        except ValueError as exc:
            messages.error(request, f"{key}: not accepted: {exc}.")
            continue
        what = "Accepted LiteLLM's limits (" + _words(names) + ")"
        messages.success(request, f"{key}: {what}; the portal now holds them too.")
        model_admin.log_change(request, key, what)


def drift_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The change page's two buttons: the same answers as the list's actions, for one key."""

    def answer(action: Any) -> Any:
        @require_POST
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            key = get_object_or_404(VirtualKey, pk=pk)
            if not model_admin.has_change_permission(request, key):
                raise PermissionDenied
            # The first POST shows the confirmation page; its post=yes runs the action.
            response = action(model_admin, request, VirtualKey.objects.filter(pk=pk))
            if response is not None:
                return response
            return HttpResponseRedirect(reverse("admin:litellm_virtualkey_change", args=[pk]))

        return view

    return [
        admin_path(
            model_admin, "<int:pk>/drift/restore/", answer(restore_ours_action), "litellm_virtualkey_restore"
        ),
        admin_path(
            model_admin, "<int:pk>/drift/accept/", answer(accept_theirs_action), "litellm_virtualkey_accept"
        ),
    ]
