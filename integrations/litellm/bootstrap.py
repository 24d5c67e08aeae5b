"""`manage.py bootstrap` steps for LiteLLM: the server from the seeds' environment names,
and the beat entries for sync and retries."""

from __future__ import annotations

from collections.abc import Mapping

from portal.bootstrap import bootstrap_step
from portal.queues import DEFAULT_QUEUE

DEFAULT_NETWORK = "backend-dev"
SYNC_EVERY_SECONDS = 15 * 60
DUE_EVERY_SECONDS = 60


@bootstrap_step
def litellm_server(environ: Mapping[str, str]) -> list[str]:
    from integrations.litellm.client import normalise_base_url
    from integrations.litellm.models import LiteLLMServer
    from portal.connectivity.server_checks import server_checks_ensure

    url = environ.get("LITELLM_API_URL", "").strip()
    master_key = environ.get("LITELLM_MASTER_KEY", "").strip()
    if not url or not master_key:
        return ["LiteLLM server: LITELLM_API_URL and LITELLM_MASTER_KEY not both set; nothing to create"]
    try:
        base_url = normalise_base_url(url)
    except ValueError as exc:
        return [f"LiteLLM server: LITELLM_API_URL is not usable ({exc}); nothing created"]
    network = environ.get("LITELLM_NETWORK", "").strip() or DEFAULT_NETWORK
    server = LiteLLMServer.objects.filter(base_url__in=[base_url, url]).first()
    if server is not None:
        lines = [f"LiteLLM server at {base_url} already there"]
    else:
        name = (
            "litellm" if not LiteLLMServer.objects.filter(name="litellm").exists() else f"litellm ({network})"
        )
        server = LiteLLMServer(name=name, base_url=base_url, network=network)
        server.master_key = master_key
        server.save()
        lines = [f"LiteLLM server '{name}' at {base_url} on network {network} created"]
    return lines + server_checks_ensure(
        kind="litellm", server_name=server.name, base_url=server.base_url, network=server.network
    )


@bootstrap_step
def litellm_beat(environ: Mapping[str, str]) -> list[str]:
    from portal import services

    out = []
    for name, task, every in (
        ("litellm: sync keys and models", "litellm.servers_sync", SYNC_EVERY_SECONDS),
        ("litellm: retry due key actions", "litellm.keys_due", DUE_EVERY_SECONDS),
    ):
        created = services.periodic_task_ensure(
            name=name, task=task, every_seconds=every, queue=DEFAULT_QUEUE
        )
        out.append(f"beat entry '{name}' " + ("created" if created else "already there"))
    return out
