"""`manage.py bootstrap` steps: the LibreChat server the environment names, and the beat job
that picks up accounts whose next attempt is due."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from portal.bootstrap import bootstrap_step
from portal.queues import DEFAULT_QUEUE

PROVISION_DUE_BEAT = "librechat: provision due accounts"
PROVISION_DUE_EVERY_SECONDS = 30


@bootstrap_step
def librechat_server(environ: Mapping[str, str]) -> list[str]:
    from integrations.librechat.models import LibreChatServer
    from portal.connectivity.server_checks import server_checks_ensure

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
    return lines + server_checks_ensure(
        kind="librechat", server_name=server.name, base_url=server.api_url, network=server.network
    )


@bootstrap_step
def librechat_provision_beat(environ: Mapping[str, str]) -> list[str]:
    from portal.services import periodic_task_ensure

    created = periodic_task_ensure(
        name=PROVISION_DUE_BEAT,
        task="librechat.accounts_provision_due",
        every_seconds=PROVISION_DUE_EVERY_SECONDS,
        queue=DEFAULT_QUEUE,
    )
    return [f"beat entry {PROVISION_DUE_BEAT!r} " + ("created" if created else "already there")]
