from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path, reverse_lazy
from django.views import View

from portal.accounts import views, views_invitation

app_name = "accounts"


def _page(route: str, view: type[View], name: str, **initkwargs: Any) -> URLPattern:
    """The page `name` of a password reset, shown by the template accounts/<name>.html."""
    return path(route, view.as_view(template_name=f"accounts/{name}.html", **initkwargs), name=name)


urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/done/", views.signup_done, name="signup_done"),
    path("accounts/verify/resend/", views.verify_resend, name="verify_resend"),
    path("accounts/verify/<str:token>/", views.verify, name="verify"),
    path("accounts/invitation/<str:token>/", views_invitation.invitation, name="invitation"),
    path("accounts/login/", views.RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="accounts:login"), name="logout"),
    path(
        "accounts/password_reset/",
        views.RateLimitedPasswordResetView.as_view(
            template_name="accounts/password_reset_form.html",
            email_template_name="accounts/email/password_reset.txt",
            subject_template_name="accounts/email/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    _page("accounts/password_reset/done/", auth_views.PasswordResetDoneView, "password_reset_done"),
    _page(
        "accounts/reset/<uidb64>/<token>/",
        views.ProvingPasswordResetConfirmView,
        "password_reset_confirm",
        success_url=reverse_lazy("accounts:password_reset_complete"),
    ),
    _page("accounts/reset/done/", auth_views.PasswordResetCompleteView, "password_reset_complete"),
]
