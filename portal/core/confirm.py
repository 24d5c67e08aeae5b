"""Confirmation before harm: the one way an admin action or button asks first.

The Django admin's own delete-confirmation pattern, for every action that changes something
outside the row or many rows at once: a first request (the action chosen on the list, or a
button's GET) shows a page listing what was selected and what will change; only a POST with
`post=yes` from that page does it. The page posts back to the same URL with the same
selection, so the action's own permission checks run again on the POST (Django filters the
actions a person may run; a button's view checks its permission before either step).

- `confirm_first(...)` wraps an admin action: `@admin.action(...)` above it, as usual.
- `confirmation_page(...)` is the page itself, for a button's view of one object.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

# A selection longer than this is shown by its first rows and "and more": the page never
# counts or loads a million rows the person selected "across" the list.
SHOWN = 50

Consequences = Sequence[str] | Callable[[QuerySet[Any]], Sequence[str]]


@dataclass(frozen=True)
class Line:
    """One selected object as the page lists it."""

    label: str
    url: str
    note: str = ""


def confirmed(request: HttpRequest) -> bool:
    """Is this the POST from the confirmation page?"""
    return request.method == "POST" and request.POST.get("post") == "yes"


def confirm_first(
    *,
    consequences: Consequences,
    button: str = "",
    note: Callable[[Any], str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An admin action that first shows what it will do to the selected rows.

    `consequences`: sentences saying what will change (or a function of the selection that
    returns them); `button`: the confirming button's words (default: the action's own);
    `note`: a short line per selected object (e.g. its server and state).
    """

    def wrap(action: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(action)
        def run(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
            if confirmed(request):
                return action(model_admin, request, queryset)
            title = str(getattr(run, "short_description", "") or action.__name__.replace("_", " "))
            said = consequences(queryset) if callable(consequences) else consequences
            return confirmation_page(
                model_admin,
                request,
                title=f"{title}?",
                objects=queryset,
                consequences=said,
                button=button or f"Yes: {title}",
                hidden=_selection_fields(request),
                note=note,
            )

        return run

    return wrap


def confirmation_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    objects: QuerySet[Any] | Iterable[Model],
    consequences: Sequence[str],
    button: str,
    hidden: Sequence[tuple[str, str]] = (),
    note: Callable[[Any], str] | None = None,
    cancel_url: str = "",
) -> HttpResponse:
    """The page that lists `objects` and `consequences` and asks for `button`; its form posts
    `hidden` and post=yes back to this URL."""
    rows = list(objects[: SHOWN + 1] if isinstance(objects, QuerySet) else objects)
    more = len(rows) > SHOWN
    opts = model_admin.opts
    lines = [Line(str(obj), _change_url(opts, obj), note(obj) if note else "") for obj in rows[:SHOWN]]
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "lines": lines,
        "more": more,
        "consequences": consequences,
        "button": button,
        "hidden": hidden,
        "cancel_url": cancel_url or request.META.get("HTTP_REFERER") or changelist,
        "changelist_url": changelist,
    }
    return TemplateResponse(request, "admin/portal/confirm.html", context)


def _selection_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """What the list posted to choose the action and its rows: posted again, so the confirming
    POST runs the same action on the same selection (select_across keeps the list's filters,
    which are in the URL the form posts back to)."""
    fields = [(name, request.POST.get(name, "")) for name in ("action", "index", "select_across")]
    fields += [
        (helpers.ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    ]
    return [(name, value) for name, value in fields if value != ""]


def _change_url(opts: Any, obj: Model) -> str:
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""
