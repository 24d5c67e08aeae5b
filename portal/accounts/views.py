"""Signup, verification, login, the person's page and the LibreChat session endpoint.

Thin: every decision is in portal/accounts/services.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from portal.accounts import personal_keys, rate_limits, services
from portal.accounts.forms import PasswordAgainForm, SignupForm


def _too_many(request: HttpRequest, what: str) -> HttpResponse:
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
    return redirect("accounts:me")


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:me")
    policy = services.signup_policy_current()
    # Bound on every POST, even an empty one: an empty POST must say what is missing.
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not rate_limits.signup_per_address().hit(rate_limits.client_address(request)):
            return _too_many(request, "signup attempts")
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
        return _too_many(request, "emails")
    if services.verification_resend(person=person, verify_url=_verify_url(request)):
        messages.success(request, f"We sent a new link to {person.email}.")
    return redirect("accounts:me")


@require_GET
def signup_done(request: HttpRequest) -> HttpResponse:
    needs_approval = bool(request.session.get("signup_needs_approval"))
    return render(request, "accounts/signup_done.html", {"needs_approval": needs_approval})


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    # GET only shows a button: mail scanners fetch links, and must not verify anyone.
    if request.method == "GET":
        return render(request, "accounts/verify.html", {"token": token})
    person = services.person_verify_email(token=token)
    if person is None:
        return render(request, "accounts/verify.html", {"token": token, "invalid": True}, status=400)
    messages.success(request, "Thank you: your email address is confirmed.")
    return redirect("accounts:me" if request.user.is_authenticated else "accounts:login")


class RateLimitedLoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = str(request.POST.get("username", ""))
        by_address = rate_limits.login_per_address().hit(rate_limits.client_address(request))
        by_email = rate_limits.login_per_email().hit(email) if email else True
        if not (by_address and by_email):
            return _too_many(request, "sign-in attempts")
        return super().post(request, *args, **kwargs)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login page under the same limits as the site's: staff passwords are
    the most valuable ones to guess."""
    from django.contrib import admin

    if request.method == "POST":
        email = str(request.POST.get("username", ""))
        by_address = rate_limits.login_per_address().hit(rate_limits.client_address(request))
        by_email = rate_limits.login_per_email().hit(email) if email else True
        if not (by_address and by_email):
            return _too_many(request, "sign-in attempts")
    return admin.site.login(request)


class RateLimitedPasswordResetView(auth_views.PasswordResetView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not rate_limits.password_reset_per_address().hit(rate_limits.client_address(request)):
            return _too_many(request, "password reset emails")
        return super().post(request, *args, **kwargs)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def me(request: HttpRequest) -> HttpResponse:
    person: Any = request.user
    status = services.person_access_status(person=person)
    context: dict[str, Any] = {"status": status, "account": status.account, "form": PasswordAgainForm()}
    context["personal_key"] = personal_keys.personal_key_overview(person=person)
    if request.method == "POST" and status.account is not None and status.state == "ready":
        # Showing the LibreChat password asks for the portal password again.
        form = PasswordAgainForm(request.POST)
        context["form"] = form
        if not rate_limits.password_check_per_person().hit(str(person.pk)):
            return _too_many(request, "password checks")
        if form.is_valid() and person.check_password(form.cleaned_data["password"]):
            context["revealed_password"] = status.account.password.reveal()
        elif form.is_valid():
            form.add_error("password", "That is not your portal password.")
    return render(request, "accounts/me.html", context)


@require_GET
def librechat_session(request: HttpRequest) -> HttpResponse:
    """The logged-in person's own LibreChat access token (never anyone else's)."""
    if not request.user.is_authenticated:
        response: HttpResponse = JsonResponse({"error": "not logged in"}, status=401)
    else:
        answer = services.person_librechat_session(person=request.user)
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
    messages.info(request, personal_keys.person_rotate_now(person=request.user))
    return redirect("accounts:me")
