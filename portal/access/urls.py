"""The person's AI access pages (namespace "access")."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from portal.access import views

app_name = "access"

urlpatterns: list[URLPattern | URLResolver] = [
    path("me/", views.me, name="me"),
    path("me/key/rotate/", views.rotate_my_key, name="rotate_my_key"),
    path("api/librechat/session", views.librechat_session, name="librechat_session"),
]
