"""The person's own pages of their AI access: /me/, "Rotate now" and the LibreChat session
endpoint the LibreChat login page asks for a token."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from portal.access import overview
from portal.access.spend_chart import person_spend_chart
from portal.accounts import rate_limits
from portal.accounts.forms import PasswordAgainForm
from portal.accounts.views import too_many
from portal.crypto import DecryptionError

log = logging.getLogger(__name__)


@sensitive_post_parameters("password")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("context", "form")  # the revealed LibreChat password, the portal password
def me(request: HttpRequest) -> HttpResponse:
    person: Any = request.user
    status = overview.person_access_status(person=person)
    context: dict[str, Any] = {"status": status, "account": status.account, "form": PasswordAgainForm()}
    context["personal_key"] = key = overview.personal_key_overview(person=person)
    if key is not None and key.key_name:
        context["spend_chart"] = person_spend_chart(person=person, key=key)
    if request.method == "POST" and status.account is not None and status.state == "ready":
        # Showing the LibreChat password asks for the portal password again.
        form = PasswordAgainForm(request.POST)
        context["form"] = form
        if not rate_limits.password_check_per_person().hit(str(person.pk)):
            return too_many(request, "password checks")
        if form.is_valid() and person.check_password(form.cleaned_data["password"]):
            context["revealed_password"] = status.account.password.reveal()
        elif form.is_valid():
            form.add_error("password", "That is not your portal password.")
    return render(request, "access/me.html", context)


@require_GET
def librechat_session(request: HttpRequest) -> HttpResponse:
    """The logged-in person's own LibreChat access token (never anyone else's)."""
    if not request.user.is_authenticated:
        response: HttpResponse = JsonResponse({"error": "not logged in"}, status=401)
    else:
        try:
            answer = overview.person_librechat_session(person=request.user)
        except DecryptionError as exc:  # names the column and row, never a value
            log.error("the LibreChat session endpoint failed: %s; /readyz lists what cannot be read", exc)
            response = JsonResponse(
                {
                    "error": "the portal cannot read its stored LibreChat credentials; staff must check its keys"
                },
                status=503,
            )
            response["Cache-Control"] = "no-store"
            return response
        if answer.token is not None and answer.expires_at is not None:
            response = JsonResponse(
                {"access_token": answer.token, "expires_at": answer.expires_at.isoformat()}
            )
        elif answer.pending:
            response = JsonResponse({"error": answer.reason, "pending": True}, status=503)
            response["Retry-After"] = "5"
        else:
            response = JsonResponse({"error": answer.reason}, status=409)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["POST"])
def rotate_my_key(request: HttpRequest) -> HttpResponse:
    """The "rotate now" button on /me/: the steps replace the key; the old one works until then."""
    messages.info(request, overview.person_rotate_now(person=request.user))
    return redirect("access:me")
