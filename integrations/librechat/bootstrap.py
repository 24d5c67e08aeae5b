"""`manage.py bootstrap` step: the LibreChat server the environment names (the beat entry
that picks up due accounts is in portal.core.schedules)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from portal.core.bootstrap import bootstrap_step
from portal.core.validators import validate_browser_url, validate_network_url


@bootstrap_step
def librechat_server(environ: Mapping[str, str]) -> list[str]:
    from integrations.librechat.models import LibreChatServer

    api_url = environ.get("LIBRECHAT_API_URL", "").strip().rstrip("/")
    if not api_url:
        return ["LIBRECHAT_API_URL not set: no LibreChat server created"]
    try:
        validate_network_url(api_url)
    except ValidationError:
        return [f"LIBRECHAT_API_URL {api_url[:100]!r} is not an http(s) URL: no LibreChat server created"]
    parts = urlsplit(api_url)
    server = LibreChatServer.objects.filter(api_url=api_url).first()
    if server is not None:
        lines = [f"LibreChat server at {api_url} already there"]
    else:
        name = parts.hostname or api_url  # validated above: it has a host
        if LibreChatServer.objects.filter(name=name).exists():
            name = f"{name}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        public_url = environ.get("LIBRECHAT_PUBLIC_URL", "").strip().rstrip("/")
        refused = []
        if public_url:
            try:
                validate_browser_url(public_url)
            except ValidationError as exc:
                # A link on every /me/ page: never stored unless a browser can follow it.
                refused = [f"LIBRECHAT_PUBLIC_URL {public_url[:100]!r} not used: {exc.messages[0]}"]
                public_url = ""
        server = LibreChatServer.objects.create(
            name=name,
            api_url=api_url,
            public_url=public_url,
            network=environ.get("LIBRECHAT_NETWORK", "").strip() or "backend-dev",
        )
        lines = [f"LibreChat server {server.name!r} created ({api_url}, network {server.network})", *refused]
    return lines
