"""The page an invitation link opens: the person chooses their password and is signed up.

Thin: the decisions are in portal/accounts/invitations.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from portal.accounts import invitations, rate_limits
from portal.accounts.forms import SignupForm
from portal.accounts.views import too_many

# The page's own URL once its link was opened; the link's token waits in the session, so the
# POST that signs up (its logs, error reports, the Referer) never carries it.
OPENED = "open"
SESSION_KEY = "_invitation_token"


def accept_url(request: HttpRequest) -> str:
    """The absolute URL of an invitation link, with `{token}` where the token goes."""
    return request.build_absolute_uri(reverse("accounts:invitation", args=["TOKEN"])).replace(
        "TOKEN", "{token}"
    )


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    if token == OPENED:
        token = str(request.session.get(SESSION_KEY, ""))
    try:
        invited = invitations.invitation_for_token(token)
    except invitations.InvitationUnusable as unusable:
        return _unusable(request, str(unusable))
    if request.method == "GET" and token != request.session.get(SESSION_KEY):
        request.session[SESSION_KEY] = token
        return redirect("accounts:invitation", token=OPENED)
    form = SignupForm(
        request.POST if request.method == "POST" else None,
        initial={"email": invited.email, "name": invited.name},
    )
    if request.method == "POST":
        if not rate_limits.signup_per_address().hit(rate_limits.client_address(request)):
            return too_many(request, "signup attempts")
        if form.is_valid():
            try:
                person = invitations.invitation_accept(
                    token=token,
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"],
                    password=form.cleaned_data["password1"],
                )
            except invitations.WrongAddress as wrong:
                form.add_error("email", str(wrong))
            except invitations.InvitationUnusable as unusable:
                return _unusable(request, str(unusable))
            else:
                request.session.pop(SESSION_KEY, None)
                login(request, person)
                messages.success(request, "Welcome: your account is made and your AI access is being set up.")
                return redirect("access:me")
    return render(request, "accounts/invitation.html", {"form": form, "invited": invited})


def _unusable(request: HttpRequest, sentence: str) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "accounts/invitation_unusable.html", {"sentence": sentence}, status=410)
