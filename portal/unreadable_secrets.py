"""A stored secret that no configured Fernet key can read gives a page that says so, not a 500.

It happens after FERNET_KEYS lost the key that encrypted a row (a key removed before
`rotate_encryption_keys` ran, a copy restored with another `var/fernet.key`). The page names
where the value lives (model, field, row: `DecryptionError`'s message, never the value) and the
fix; `/readyz` reports the same columns. Under /api/ the JSON-errors middleware turns the 503
into JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from portal.crypto import DecryptionError

log = logging.getLogger(__name__)


class UnreadableSecretMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DecryptionError):
            return None
        log.error("unreadable secret on %s: %s", request.path, exception)
        response = TemplateResponse(
            request, "unreadable_secret.html", {"problem": str(exception)}, status=503
        )
        return response.render()
