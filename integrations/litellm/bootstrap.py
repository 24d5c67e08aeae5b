"""`manage.py bootstrap` step for LiteLLM: the server the seeds' environment names (the beat
entries are in portal.core.schedules)."""

from __future__ import annotations

from collections.abc import Mapping

from portal.core.bootstrap import bootstrap_step

DEFAULT_NETWORK = "backend-dev"


@bootstrap_step
def litellm_server(environ: Mapping[str, str]) -> list[str]:
    from integrations.litellm.client import normalise_base_url
    from integrations.litellm.models import LiteLLMServer

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
    return lines
