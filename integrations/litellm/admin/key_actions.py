"""The virtual key admin's actions and views: create and change (LiteLLM first, after the
admin's transaction committed), the one reveal, and the actions on selected keys. Every
change goes through integrations.litellm.keys; every key action is written to the admin log,
never with a secret. VirtualKeyAdmin (keys.py) mixes this in beside its columns and filters.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from integrations.litellm import keys, limits
from integrations.litellm.admin.common import dispatch_keys, outcome_words
from integrations.litellm.admin.key_drift import accept_theirs_action, drift_urls, restore_ours_action
from integrations.litellm.forms import CHANGE_FIELD_TO_LITELLM
from integrations.litellm.models import KeyAction, VirtualKey
from portal.core.admin_pages import admin_page, admin_path

log = logging.getLogger(__name__)


def _key_action(action: str, label: str, description: str, *, permission: str = "change") -> Any:
    """An admin action that records `action` on every selected key (KeyActionsMixin._run_action)."""

    @admin.action(permissions=(permission,), description=description)
    def run(model_admin: KeyActionsMixin, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        model_admin._run_action(request, queryset, action, label)

    run.__name__ = f"{label}_action"
    return run


class KeyActionsMixin(admin.ModelAdmin):
    """What the key admin does, as opposed to what it shows."""

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
