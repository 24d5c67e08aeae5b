"""The checks for addresses people type in: http:// or https:// with a host, nothing else.

Two kinds of address, one set of rules:
- `validate_network_url`: a service as the portal's workers (or LibreChat's containers) reach it
  inside a Docker network. Docker users write one-label service names (`http://ollama:11434`,
  `http://litellm:4000`, `http://my_stack_litellm_1:4000`), so Django's URLValidator (which
  wants a dotted domain and refuses `_`) is not used.
- `validate_browser_url`: where a person's browser goes (LibreChat's public URL). It is rendered
  as a link on every `/me/` page, so a `javascript:` or `data:` "URL" must never be stored, and
  `chat.example.com` without its scheme would be a relative link: both are refused with a sentence.

A host is a name of ASCII letters, digits, `-` and `_` (one label or dotted), an IPv4 address or
a bracketed IPv6 address. A look-alike letter (a Cyrillic letter that reads as a Latin `i` in `litellm`) is refused: it would
resolve somewhere else, or nowhere, and never reads as the mistake it is.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

HTTP_SCHEMES = ("http", "https")
MAX_URL_LENGTH = 500  # the address columns' max_length
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def network_host_problem(host: str) -> str | None:
    """Why `host` is not a one-label name, a dotted name or an IP address; None when it is one."""
    if not host:
        return "it has no host"
    if not host.isascii():
        return "its host has a letter that is not plain ASCII (a look-alike letter?)"
    if host.startswith("[") or ":" in host:  # with or without its URL brackets
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return "its host is not an IPv6 address"
        return None
    if len(host) > 253:
        return "its host is longer than 253 characters"
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "its host is not an IPv4 address"
        return None
    if not all(_LABEL.match(label) for label in labels):
        return "its host is not a name of letters, digits, '-' and '_' that starts and ends with a letter or digit"
    return None


def _url_problem(value: str) -> str | None:
    if not value.strip():
        return "it is empty"
    if len(value) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return "it has a space or a control character in it"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return "its port is not a number from 1 to 65535, or its [IPv6] brackets do not hold an address"
    if parts.scheme.lower() not in HTTP_SCHEMES or not value.lower().startswith(f"{parts.scheme.lower()}://"):
        # `chat.example.com` or `litellm:4000` (read as scheme "litellm"), `javascript:`, `ftp://`
        return "it does not start with http:// or https://"
    if parts.port == 0:
        return "its port is not a number from 1 to 65535"
    netloc = parts.netloc.rpartition("@")[2]
    host = netloc.partition("]")[0] + "]" if netloc.startswith("[") else netloc.partition(":")[0]
    return network_host_problem(host)


def _refuse(problem: str, example: str) -> ValidationError:
    # The value itself is not repeated: the field shows it, and a webhook URL is a credential.
    return ValidationError(
        f"This is not an http:// or https:// address: {problem} (e.g. {example}).", code="invalid_url"
    )


def validate_network_url(value: str) -> None:
    """A service inside a network: http(s)://, a host (one label, dotted, or IP), port optional."""
    problem = _url_problem(value)
    if problem:
        raise _refuse(problem, "http://litellm:4000")


def validate_browser_url(value: str) -> None:
    """Where a person's browser goes: the same rules, and the scheme is never assumed."""
    problem = _url_problem(value)
    if problem:
        raise _refuse(problem, "https://chat.example.com")


# Migrations before *_admin_words name this validator; they must keep importing.
validate_http_url = validate_network_url
