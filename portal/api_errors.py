"""Errors under /api/ answer JSON, like the endpoints themselves; other paths keep Django's pages.

A script calling `/api/librechat/session` must be able to read a failure (`{"error": ...}`),
not an HTML page: an unknown path (404), a wrong method (405), a refused CSRF check (403), an
uncaught exception (500, logged and mailed as usual before this sees it). One middleware rather
than per-status handlers, so it holds with DEBUG on as well (no technical page on the API).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"
# Headers of the original answer a client still needs.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        error = (
            "internal error; it is logged for staff"
            if response.status_code >= 500
            else response.reason_phrase.lower()
        )
        answer = JsonResponse({"error": error}, status=response.status_code)
        for header in KEPT_HEADERS:
            if header in response:
                answer[header] = response[header]
        answer["Cache-Control"] = "no-store"
        return answer
