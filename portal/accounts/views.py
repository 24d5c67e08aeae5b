"""Signup, verification, login, the person's page and the LibreChat session endpoint.

Thin: every decision is in portal/accounts/services.py.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from portal.accounts import rate_limits, services
from portal.accounts.addresses import rate_limit_key
from portal.accounts.forms import CanonicalPasswordResetForm, PasswordAgainForm, SignupForm
from portal.accounts.models import SignupMode

log = logging.getLogger(__name__)

# The verify page's own URL once its link was opened; the link's token waits in the session.
VERIFY_URL_TOKEN = "confirm"  # noqa: S105  (a URL segment, not a secret)
VERIFY_SESSION_KEY = "_verify_email_token"


def too_many(request: HttpRequest, what: str) -> HttpResponse:
    response = render(request, "accounts/rate_limited.html", {"what": what}, status=429)
    response["Retry-After"] = "60"
    return response


@never_cache
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """`/`: people reach their own page (or sign in / sign up first), staff the admin.

    The portal's root is what a person opens first; the staff login is no place for them.
    """
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.user.is_staff:
        return redirect("admin:index")
    return redirect("access:me")


@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("access:me")
    policy = services.signup_policy_current()
    if policy.mode == SignupMode.CLOSED:
        # No form to fill in vain; a POST (an old tab, a script) is refused the same way.
        return render(request, "accounts/signup_closed.html", status=200 if request.method == "GET" else 403)
    # Bound on every POST, even an empty one: an empty POST must say what is missing.
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not rate_limits.signup_per_address().hit(rate_limits.client_address(request)):
            return too_many(request, "signup attempts")
        if form.is_valid():
            try:
                result = services.person_signup(
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"],
                    password=form.cleaned_data["password1"],
                    verify_url=_verify_url(request),
                )
            except services.SignupRefused as refusal:
                form.add_error("email", str(refusal))
            else:
                request.session["signup_needs_approval"] = result.needs_approval
                return redirect("accounts:signup_done")
    return render(request, "accounts/signup.html", {"form": form, "policy": policy})


def _verify_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("accounts:verify", args=["TOKEN"])).replace("TOKEN", "{token}")


@login_required
@require_http_methods(["POST"])
def verify_resend(request: HttpRequest) -> HttpResponse:
    person: Any = request.user
    if not rate_limits.signup_per_address().hit(rate_limits.client_address(request)):
        return too_many(request, "emails")
    if services.verification_resend(person=person, verify_url=_verify_url(request)):
        messages.success(request, f"We sent a new link to {person.email}.")
    return redirect("access:me")


@require_GET
def signup_done(request: HttpRequest) -> HttpResponse:
    needs_approval = bool(request.session.get("signup_needs_approval"))
    return render(request, "accounts/signup_done.html", {"needs_approval": needs_approval})


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """The link proves the mailbox; the signup password (or being signed in as the person)
    proves the signer. Whoever has only the mailbox chooses their own password instead, so a
    stranger who signed up with this address and a password of theirs gets nothing."""
    if token == VERIFY_URL_TOKEN:
        token = str(request.session.get(VERIFY_SESSION_KEY, ""))
    elif request.method == "GET" and services.verification_person(token=token) is not None:
        # As Django's reset link does: the credential moves into the session, so the POST that
        # writes (and its logs, error mails, 429 warnings, the Referer) never carries it.
        request.session[VERIFY_SESSION_KEY] = token
        return redirect("accounts:verify", token=VERIFY_URL_TOKEN)
    person = services.verification_person(token=token)
    if person is None:
        return render(request, "accounts/verify.html", {"token": token, "invalid": True}, status=400)
    if person.email_verified_at is not None:
        messages.info(request, "Your email address is already confirmed.")
        return redirect("access:me")
    signed_in = request.user.is_authenticated and request.user.pk == person.pk
    form = PasswordAgainForm(request.POST if request.method == "POST" and not signed_in else None)
    context = {"token": token, "signed_in": signed_in, "form": form}
    # GET only shows the form: mail scanners fetch links, and must not verify anyone.
    if request.method == "GET":
        return render(request, "accounts/verify.html", context)
    if request.POST.get("choose"):
        return redirect(_choose_password_url(person))
    if not signed_in:
        by_address = rate_limits.login_per_address().hit(rate_limits.client_address(request))
        if not (by_address and rate_limits.login_per_email().hit(person.email)):
            return too_many(request, "sign-in attempts")
        typed = str(request.POST.get("password", ""))
        signer = authenticate(request, username=person.email, password=typed) if typed else None
        if signer is None or signer.pk != person.pk:
            form.errors.clear()
            form.add_error("password", "That is not the password chosen when signing up.")
            return render(request, "accounts/verify.html", context)
        login(request, signer)
    services.person_email_proven(person=person)
    request.session.pop(VERIFY_SESSION_KEY, None)
    messages.success(request, "Thank you: your email address is confirmed.")
    return redirect("access:me")


def _choose_password_url(person: Any) -> str:
    # The verification link proves the mailbox just as a password reset mail would.
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    return reverse("accounts:password_reset_confirm", args=[uid, default_token_generator.make_token(person)])


class ProvingPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A password chosen from a link mailed to the address proves the mailbox too."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.person_email_proven(person=form.user)
        return response


class RateLimitedLoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = str(request.POST.get("username", ""))
        by_address = rate_limits.login_per_address().hit(rate_limits.client_address(request))
        by_email = rate_limits.login_per_email().hit(rate_limit_key(email)) if email else True
        if not (by_address and by_email):
            return too_many(request, "sign-in attempts")
        response = super().post(request, *args, **kwargs)
        _forgive_a_sign_in(request, email)
        return response


@sensitive_post_parameters("password")  # before the limits run: they can fail too
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login page under the same limits as the site's: staff passwords are
    the most valuable ones to guess."""
    from django.contrib import admin

    if request.method == "POST":
        email = str(request.POST.get("username", ""))
        by_address = rate_limits.login_per_address().hit(rate_limits.client_address(request))
        by_email = rate_limits.login_per_email().hit(rate_limit_key(email)) if email else True
        if not (by_address and by_email):
            return too_many(request, "sign-in attempts")
        response = admin.site.login(request)
        _forgive_a_sign_in(request, email)
        return response
    return admin.site.login(request)


def _forgive_a_sign_in(request: HttpRequest, email: str) -> None:
    """A sign-in with the right password was no guess: it does not count against the limits,
    which are there to slow guessing (found when a staff member who signed in five times in
    five minutes was locked out of the admin)."""
    if request.user.is_authenticated:
        rate_limits.login_per_address().forgive(rate_limits.client_address(request))
        if email:
            rate_limits.login_per_email().forgive(rate_limit_key(email))


class RateLimitedPasswordResetView(auth_views.PasswordResetView):
    form_class = CanonicalPasswordResetForm

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not rate_limits.password_reset_per_address().hit(rate_limits.client_address(request)):
            return too_many(request, "password reset emails")
        return super().post(request, *args, **kwargs)
