"""Every admin list action refuses a forged selection with a sentence, never a 500.

Django's ModelAdmin.response_action filters `pk__in=` the posted `_selected_action` values as
they come: "", "1;DROP" or a number past the column's range raise ValueError / DataError /
OverflowError in the ORM or the database (a 500 with a traceback; the confirmation pages of
portal.core.confirm re-post the selection, so it travels more than before). One middleware
checks the selection of every admin list against its model's primary key before the view
runs, so no admin needs its own guard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

REFUSED = "The selection holds something that is not a row of this list, so nothing was done. Choose the rows again."


def selection_is_rows(model_admin: Any, values: list[str]) -> bool:
    """Every value is a primary key value the database can hold (ASCII digits only: Python's
    int() also reads a fullwidth one, U+FF11, as 1)."""
    pk = model_admin.model._meta.pk
    low: int | None
    high: int | None
    try:
        low, high = connection.ops.integer_field_range(pk.get_internal_type())
    except KeyError:  # not an integer key: to_python alone decides
        low = high = None
    for value in values:
        if not value.isascii():
            return False
        try:
            parsed = pk.to_python(value)
        except ValidationError:
            return False
        if parsed is None or parsed == "":
            return False
        if isinstance(parsed, int) and not (
            (low is None or parsed >= low) and (high is None or parsed <= high)
        ):
            return False
    return True


class AdminSelectionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        # Django's admin views carry their ModelAdmin (ModelAdmin.get_urls' wrap()).
        model_admin = getattr(view_func, "model_admin", None)
        if model_admin is None or request.method != "POST" or "action" not in request.POST:
            return None
        if selection_is_rows(model_admin, request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)):
            return None
        messages.warning(request, REFUSED)
        return HttpResponseRedirect(request.get_full_path())
