"""`manage.py bootstrap` step: the LibreChat server the environment names (the beat entry
that picks up due accounts is in portal.core.schedules)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from portal.core.bootstrap import bootstrap_step


@bootstrap_step
def librechat_server(environ: Mapping[str, str]) -> list[str]:
    from integrations.librechat.models import LibreChatServer

    api_url = environ.get("LIBRECHAT_API_URL", "").strip().rstrip("/")
    if not api_url:
        return ["LIBRECHAT_API_URL not set: no LibreChat server created"]
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"LIBRECHAT_API_URL {api_url!r} is not an http(s) URL: no LibreChat server created"]
    server = LibreChatServer.objects.filter(api_url=api_url).first()
    if server is not None:
        lines = [f"LibreChat server at {api_url} already there"]
    else:
        name = parts.hostname
        if LibreChatServer.objects.filter(name=name).exists():
            name = f"{name}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        server = LibreChatServer.objects.create(
            name=name,
            api_url=api_url,
            public_url=environ.get("LIBRECHAT_PUBLIC_URL", "").strip().rstrip("/"),
            network=environ.get("LIBRECHAT_NETWORK", "").strip() or "backend-dev",
        )
        lines = [f"LibreChat server {server.name!r} created ({api_url}, network {server.network})"]
    return lines
