"""A key's own buttons and its work in flight, as the key's page and the key list show them:

- the change page's Rotate / Block / Unblock / Delete in LiteLLM / Cancel pending buttons: a
  GET shows the same confirmation page as the list's action, the POST (post=yes) runs it;
- the pending cell: what a key waits for, in words from what the row and the worker's
  heartbeat know, refreshing itself (refresh.js) until the work is done; the list's cells ask
  together, one request a tick for the whole page (pending_many_view).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from integrations.litellm import keys
from integrations.litellm.models import VirtualKey
from integrations.litellm.servers import server_queue
from portal.core.admin_pages import admin_path
from portal.core.confirm import confirmation_page, confirmed
from portal.core.task_wait import heartbeats_read_once, queued_words, worker_heard

# The change page's buttons: (url word, action name on the admin, the button's words).
BUTTONS = (
    ("rotate", "rotate_action", "Rotate"),
    ("block", "block_action", "Block"),
    ("unblock", "unblock_action", "Unblock"),
    ("delete", "delete_action", "Delete in LiteLLM"),
    ("cancel", "cancel_action", "Cancel pending work"),
)
REFRESH_SECONDS = 3
MAX_PENDING_IDS = 500  # the key list shows 50 rows a page (list_per_page): room to spare


def key_note(key: VirtualKey) -> str:
    """A key's line on a confirmation page: what it is, where, and any work in flight."""
    words = [key.key_name or "no key yet", f"on {key.server}", key.get_status_display()]
    if key.owner:
        words.insert(1, f"owner {key.owner}")
    if key.pending_action:
        words.append(f"{key.get_pending_action_display()} pending")
    return ", ".join(words)


# What each action does, said before it is done (portal.core.confirm).
BLOCK_WORDS = [
    "LiteLLM refuses every request made with these keys until they are unblocked: whoever uses "
    "them (a person's LibreChat, a script) gets errors at once."
]
UNBLOCK_WORDS = ["These keys work again in LiteLLM, within their budgets and limits."]
ROTATE_WORDS = [
    "Each key gets a new secret with the same settings and budget; the old secret is deleted in "
    "LiteLLM (a staff key's old secret keeps working for its server's grace period).",
    "Whoever holds an old secret must be given the new one: you see it once, on the key's page.",
]
DELETE_WORDS = [
    "These keys are deleted in LiteLLM: every request made with them fails from then on.",
    "This cannot be undone; the rows stay in the portal as deleted, for the record.",
]
REFRESH_WORDS = ["Spend and state are read again from LiteLLM; nothing changes in LiteLLM."]
CANCEL_WORDS = [
    "The pending work of these keys is given up: keys still being created are removed from the "
    "portal, any other pending action is dropped.",
    "LiteLLM may still hold a key (or have applied the action) if its request got through before "
    "the server went quiet: the next sync of the server tells. A key found there shows as "
    "found in LiteLLM, to delete there.",
]
WORDS_OF = {
    "block_action": BLOCK_WORDS,
    "unblock_action": UNBLOCK_WORDS,
    "rotate_action": ROTATE_WORDS,
    "delete_action": DELETE_WORDS,
    "refresh_action": REFRESH_WORDS,
    "cancel_action": CANCEL_WORDS,
}


def buttons_for(key: VirtualKey) -> list[tuple[str, str]]:
    """(url, words) of the buttons that make sense for the key as it is now."""
    if key.status == keys.KeyStatus.DELETED:
        return []
    stuck = key.pending_action or key.status in (keys.KeyStatus.CREATING, keys.KeyStatus.FAILED)
    shown = []
    for word, _action, label in BUTTONS:
        if word == "cancel" and not stuck:
            continue
        if word != "cancel" and key.status != keys.KeyStatus.ACTIVE:
            continue
        if (word == "block" and key.blocked) or (word == "unblock" and not key.blocked):
            continue
        shown.append((reverse("admin:litellm_virtualkey_do", args=[key.pk, word]), label))
    return shown


def key_page_urls(model_admin: Any) -> list[URLPattern]:
    def do_view(request: HttpRequest, pk: int, what: str) -> HttpResponse:
        found = {word: (name, label) for word, name, label in BUTTONS}.get(what)
        if found is None:
            raise Http404("No such key action.")
        name, label = found
        key = get_object_or_404(VirtualKey.objects.select_related("server"), pk=pk)
        action = getattr(model_admin, name)
        # The action's own permissions, checked before the page as before the work.
        allowed = getattr(action, "allowed_permissions", ("change",))
        if not all(getattr(model_admin, f"has_{p}_permission")(request) for p in allowed):
            raise PermissionDenied
        change_url = reverse("admin:litellm_virtualkey_change", args=[pk])
        queryset: QuerySet[VirtualKey] = VirtualKey.objects.filter(pk=pk)
        if not confirmed(request):
            return confirmation_page(
                model_admin,
                request,
                title=f"{label}: {key}?",
                objects=queryset.select_related("server"),
                consequences=WORDS_OF[name],
                button=f"Yes: {label}",
                note=key_note,
                cancel_url=change_url,
            )
        response = action(request, queryset)  # post=yes: the action runs, as from the list
        if response is not None:
            return response
        if not VirtualKey.objects.filter(pk=pk).exists():  # a cancelled creation removes the row
            return HttpResponseRedirect(reverse("admin:litellm_virtualkey_changelist"))
        return HttpResponseRedirect(change_url)

    def pending_view(request: HttpRequest, pk: int) -> HttpResponse:
        key = VirtualKey.objects.select_related("server").filter(pk=pk).first()
        if key is None:
            return HttpResponse('<span data-done="1">removed from the portal</span>')
        if not model_admin.has_view_permission(request, key):
            raise PermissionDenied
        return TemplateResponse(request, "admin/litellm/virtualkey/pending.html", pending_context(key))

    def pending_many_view(request: HttpRequest) -> HttpResponse:
        """The list's pending cells in one answer (refresh.js asks `?ids=1,2,3` once a tick)."""
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        ids = pending_ids(request.GET.get("ids", ""))
        if ids is None:
            return HttpResponseBadRequest(
                f"ids: up to {MAX_PENDING_IDS} key numbers separated by commas, e.g. ?ids=3,14"
            )
        found = VirtualKey.objects.select_related("server").in_bulk(ids)
        parts = []
        with heartbeats_read_once():  # one heartbeat read per queue, not one per key
            for pk in ids:
                key = found.get(pk)
                inner = (
                    list_cell(key)
                    if key is not None
                    else list_cell_words("removed from the portal", "", True)
                )
                parts.append(format_html('<div data-refresh-for="{}">{}</div>', pk, inner))
        return HttpResponse("".join(parts))

    return [
        admin_path(
            model_admin, "pending/", never_cache(pending_many_view), "litellm_virtualkey_pending_many"
        ),
        admin_path(model_admin, "<int:pk>/do/<str:what>/", do_view, "litellm_virtualkey_do"),
        admin_path(model_admin, "<int:pk>/pending/", never_cache(pending_view), "litellm_virtualkey_pending"),
    ]


def pending_words(key: VirtualKey) -> tuple[str, str, bool]:
    """(what is pending, why it has not finished, done) for the key as the row says now."""
    if key.rotation_step == keys.HANDOVER_STEP:
        return "rotate: waiting for the hand-over", "", True
    if key.rotation_step == keys.GRACE_STEP:
        return "rotate: grace period (both keys share the budget)", "", True
    if not key.pending_action:
        if key.last_action_ok is False:
            return f"{key.last_action} failed", key.last_action_detail, True
        return "", "", True
    what = f"{key.get_pending_action_display()} pending"
    now = timezone.now()
    if key.attempts:
        when = f"{key.next_attempt_at:%H:%M:%S} UTC" if key.next_attempt_at else "soon"
        return (
            what,
            f"LiteLLM did not answer try {key.attempts} ({key.last_action_detail}); next try {when}",
            False,
        )
    queue = server_queue(key.server)
    if key.next_attempt_at and key.next_attempt_at > now:
        # A worker's claim moves next_attempt_at one lease on (portal.core.work.claim).
        return what, f"a worker on {queue} took it and is waiting for LiteLLM to answer", False
    _, why = queued_words(queue, *worker_heard(queue))
    return what, why, False


def pending_context(key: VirtualKey) -> dict[str, Any]:
    what, why, done = pending_words(key)
    return {"key": key, "what": what, "why": why, "done": done}


def pending_ids(text: str) -> list[int] | None:
    """`1,2,3` as key numbers (ASCII digits only, each once, in order), or None if malformed."""
    words = [word.strip() for word in text.split(",") if word.strip()]
    if not words or len(words) > MAX_PENDING_IDS:
        return None
    if not all(len(word) <= 18 and word.isascii() and word.isdigit() for word in words):
        return None
    return list(dict.fromkeys(int(word) for word in words))


def list_cell_words(what: str, why: str, done: bool) -> str:
    """The list cell's inside, the same on the first render and on every refresh: the short
    words, the reason as the title (the key's own page spells it out)."""
    return format_html('<span data-done="{}" title="{}">{}</span>', 1 if done else 0, why, what)


def list_cell(key: VirtualKey) -> str:
    what, why, done = pending_words(key)
    if done and not what:  # finished while the page was open: its outcome, short
        outcome = key.last_action_detail or key.last_action or "nothing pending"
        if len(outcome) > 60:
            outcome, why = key.last_action or "finished", outcome
        what = f"done: {outcome}; reload for the key's new state"
    return list_cell_words(what, why, done)


@admin.display(description="pending")
def pending_column(key: VirtualKey) -> str:
    """The list's pending cell: refreshes itself while work is in flight."""
    what, why, done = pending_words(key)
    if done:
        return what
    return format_html(
        '<span class="portal-refresh" data-refresh-batch="{}" data-refresh-id="{}" data-refresh-seconds="{}">{}</span>',
        reverse("admin:litellm_virtualkey_pending_many"),
        key.pk,
        REFRESH_SECONDS,
        list_cell_words(what, why, done),  # = list_cell(key), without reading the row's words twice
    )
