"""Keeping secrets out of Django's error reports (the mails to ADMINS and the debug page).

Every view that takes a password or a secret marks its POST parameters sensitive; the admin
pages whose forms take one (a master key, a target's password, a webhook URL) inherit
SecretFormAdmin, which hides every POSTed value of the add and change forms.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters


class SecretFormAdmin(admin.ModelAdmin):
    """A ModelAdmin whose add/change form takes a secret: an error while saving reports the
    POST with every value replaced by stars."""

    @method_decorator(sensitive_post_parameters())
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        return super().changeform_view(request, object_id, form_url, extra_context)
