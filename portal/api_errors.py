"""Errors under /api/ answer JSON, like the endpoints themselves; other paths keep Django's pages.

A script calling `/api/librechat/session` must be able to read the failure (`{"error": ...}`),
not an HTML page. Django uses these handlers when DEBUG is off; with DEBUG on it shows its
technical pages (plain text to clients that do not accept HTML).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(error: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": error}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json("bad request", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json("permission denied", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _json("no such API endpoint", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json("internal error; it is logged for staff", 500)
    return defaults.server_error(request)
