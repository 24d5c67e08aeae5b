"""The one check for addresses people type in: http:// or https:// with a host, nothing else.

A `javascript:` or `data:` "URL" stored as LibreChat's public address would be rendered as a
link on every `/me/` page; a `file:` or `gopher:` API base would be handed to LiteLLM. Docker
service names (`http://litellm:4000`) are hosts too, so Django's URLValidator (which wants a
dotted domain) is not used.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

HTTP_SCHEMES = ("http", "https")


def validate_http_url(value: str) -> None:
    message = f"{value[:100]!r} is not an http:// or https:// address (e.g. https://chat.example.com)."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(message, code="invalid_url")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValidationError(message, code="invalid_url") from None
    if parts.scheme.lower() not in HTTP_SCHEMES or not parts.hostname:
        raise ValidationError(message, code="invalid_url")
