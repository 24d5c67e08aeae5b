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
from integrations.litellm.admin.common import dispatch_keys, outcome_words, send_keys
from integrations.litellm.admin.key_drift import accept_theirs_action, drift_urls, restore_ours_action
from integrations.litellm.admin.key_pages import (
    BLOCK_WORDS,
    CANCEL_WORDS,
    DELETE_WORDS,
    REFRESH_WORDS,
    ROTATE_WORDS,
    UNBLOCK_WORDS,
    buttons_for,
    key_note,
    key_page_urls,
    pending_column,
    pending_context,
)
from integrations.litellm.forms import CHANGE_FIELD_TO_LITELLM
from integrations.litellm.models import CheckStatus, KeyAction, LiteLLMServer, VirtualKey
from portal.core.admin_pages import admin_page, admin_path
from portal.core.batches import Sent, batch_start
from portal.core.confirm import confirm_first, confirmation_page, confirmed

log = logging.getLogger(__name__)


def _key_action(
    action: str, label: str, description: str, consequences: list[str], *, permission: str = "change"
) -> Any:
    """An admin action that records `action` on every selected key (KeyActionsMixin._run_action),
    after a confirmation page that lists the keys and says what will change."""

    @admin.action(permissions=(permission,), description=description)
    @confirm_first(consequences=consequences, note=key_note)
    def run(model_admin: KeyActionsMixin, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> Any:
        return model_admin._run_action(request, queryset, action, label)

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
        "cancel_action",
        restore_ours_action,
        accept_theirs_action,
    )
    change_form_template = "admin/litellm/virtualkey/change_form.html"
    pending_display = staticmethod(pending_column)

    class Media:
        js = ("portal/refresh.js",)  # pending cells refresh themselves (key_pages.pending_column)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        key = context.get("original")
        if key is not None and key.pk:  # the page's buttons and its work in flight
            context.update(key_buttons=buttons_for(key), key_pending=pending_context(key))
        return super().render_change_form(request, context, *args, **kwargs)

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
        if object_id is None and request.method == "POST" and not confirmed(request):
            warning = self._warn_before_create(request)
            if warning is not None:
                return warning
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

    def _warn_before_create(self, request: HttpRequest) -> HttpResponse | None:
        """A key made on a server whose last check failed waits as "being created" until the
        server answers: say so first, with the check's time and words, and ask."""
        server_id = request.POST.get("server", "")
        server = LiteLLMServer.objects.filter(pk=server_id).first() if server_id.isdigit() else None
        if server is None or server.check_status not in (CheckStatus.FAILED, CheckStatus.KEY_REJECTED):
            return None
        when = f"{server.checked_at:%Y-%m-%d %H:%M} UTC" if server.checked_at else "its last check"
        said = [
            f"{server}'s last check failed at {when}: {server.get_check_status_display()}"
            + (f" ({server.check_diagnosis})" if server.check_diagnosis else "")
            + ".",
            "Created anyway, the key waits as being created until the server answers; you can "
            "cancel it from its page meanwhile. Test the connection on the server's page first "
            "to see whether it answers now.",
        ]
        hidden = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", "post")
            for value in values
        ]
        return confirmation_page(
            self,
            request,
            title=f"Create the key on {server} anyway?",
            objects=[],
            consequences=said,
            button="Yes: create it anyway",
            hidden=hidden,
            cancel_url=reverse("admin:litellm_litellmserver_change", args=[server.pk]),
        )

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
            *key_page_urls(self),
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
    ) -> HttpResponse | None:
        """One key: wait a few seconds for LiteLLM and say how it went. More: background work,
        and the request returns at once to a page that follows each key's task."""
        accepted: list[VirtualKey] = []
        for key in queryset.select_related("server"):
            try:
                keys.key_request(key=key, action=action, enqueue=False)
            except ValueError as exc:
                messages.error(request, f"{key}: {label} refused: {exc}")
                self.log_change(request, key, f"{label}: refused ({exc})")
                continue
            if action == KeyAction.ROTATE:
                # Before the work is sent: the new key's one reveal is this staff member's from
                # the moment a worker can make it, not only once this request hears back.
                keys.key_reveal_to(key_id=key.pk, user=request.user)
            accepted.append(key)
        if len(accepted) > 1:
            return self._run_in_background(request, accepted, action, label)
        why: dict[int, str] = {}
        results = dispatch_keys([k.pk for k in accepted], why=why)
        for key in accepted:
            level, words = outcome_words(results.get(key.pk), why.get(key.pk, ""))
            messages.add_message(request, level, f"{key}: {label}: {words}")
            self.log_change(request, key, f"{label}: {words}")
            if action == KeyAction.ROTATE and (results.get(key.pk) or {}).get("ok"):
                url = reverse("admin:litellm_virtualkey_reveal", args=[key.pk])
                messages.info(
                    request, format_html('{}: <a href="{}">show the new key once</a>', str(key), url)
                )
        return None

    block_action = _key_action(KeyAction.BLOCK, "block", "Block in LiteLLM", BLOCK_WORDS)
    unblock_action = _key_action(KeyAction.UNBLOCK, "unblock", "Unblock in LiteLLM", UNBLOCK_WORDS)
    rotate_action = _key_action(
        KeyAction.ROTATE, "rotate", "Rotate (new key, same settings; old one deleted)", ROTATE_WORDS
    )
    delete_action = _key_action(
        KeyAction.DELETE, "delete", "Delete in LiteLLM", DELETE_WORDS, permission="delete_in_litellm"
    )
    refresh_action = _key_action(KeyAction.REFRESH, "refresh", "Refresh spend from LiteLLM", REFRESH_WORDS)

    @admin.action(permissions=("change",), description="Cancel pending work (e.g. stuck on a dead server)")
    @confirm_first(consequences=CANCEL_WORDS, note=key_note)
    def cancel_action(self, request: HttpRequest, queryset: QuerySet[VirtualKey]) -> None:
        for key in queryset.select_related("server"):
            try:
                words = keys.key_cancel_pending(key=key)
            except ValueError as exc:
                messages.error(request, f"{key}: not cancelled: {exc}.")
                continue
            # The admin log names the row by id: a removed row's entry still says what it was.
            self.log_change(request, key, f"Cancelled pending work: {words}"[:2000])
            messages.warning(request, words + ".")

    def _run_in_background(
        self, request: HttpRequest, accepted: list[VirtualKey], action: str, label: str
    ) -> HttpResponse:
        sent = send_keys([k.pk for k in accepted])
        lines = []
        for key in accepted:
            self.log_change(request, key, f"{label}: sent to the worker (bulk)")
            async_result, queue = sent.get(key.pk, (None, ""))
            url = reverse("admin:litellm_virtualkey_change", args=[key.pk])
            lines.append(Sent(str(key), async_result.id if async_result else "", queue, url))
        return batch_start(
            request,
            title=f"{label.capitalize()} {len(accepted)} keys",
            sent=lines,
            back_url=reverse("admin:litellm_virtualkey_changelist"),
            vendor="LiteLLM",
        )
