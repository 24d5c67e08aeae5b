"""The portal's URLs plus answers of the portal's own with the statuses django-csp exempts under
DEBUG (404, 500), and a view that raises: tells Django's technical pages from the portal's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseServerError
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def own_not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponseNotFound("<!DOCTYPE html><title>gone</title><p>No such key.</p>")


def own_server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError("<!DOCTYPE html><title>sorry</title><p>Try again.</p>")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("own-not-found/", own_not_found),
    path("own-server-error/", own_server_error),
    path("boom/", boom),
    *portal_urlpatterns,
]
