"""Bootstrap steps: every network's sweep and heartbeat beat entries, and the health checks
of the servers the environment names.

The data migration creates the network entries for the seeded networks and a signal for new
rows; this step repairs a database where an entry was deleted by hand. Never overwrites an
edit. It runs after the integrations' steps (INSTALLED_APPS order), so the servers are there.
"""

from __future__ import annotations

from collections.abc import Mapping

from portal.core.bootstrap import bootstrap_step


@bootstrap_step
def connectivity_schedules(environ: Mapping[str, str]) -> list[str]:
    from portal.connectivity import schedules
    from portal.connectivity.models import Network

    created: list[str] = []
    for network in Network.objects.all():
        created += schedules.network_schedule_ensure(network=network)
    return [f"beat entry '{name}' created" for name in created] or ["connectivity beat entries already there"]


@bootstrap_step
def environment_server_checks(environ: Mapping[str, str]) -> list[str]:
    """The health checks of the LiteLLM and LibreChat servers the environment names (the
    integrations' own steps made or found those rows; connectivity reads them, never the
    other way round)."""
    from integrations.librechat.models import LibreChatServer
    from integrations.litellm.client import normalise_base_url
    from integrations.litellm.models import LiteLLMServer
    from portal.connectivity.server_checks import server_checks_ensure

    lines: list[str] = []
    litellm_url = environ.get("LITELLM_API_URL", "").strip()
    if litellm_url and environ.get("LITELLM_MASTER_KEY", "").strip():
        try:
            addresses = [normalise_base_url(litellm_url), litellm_url]
        except ValueError:
            addresses = []
        server = LiteLLMServer.objects.filter(base_url__in=addresses).first() if addresses else None
        if server is not None:
            lines += server_checks_ensure(
                kind="litellm", server_name=server.name, base_url=server.base_url, network=server.network
            )
    librechat_url = environ.get("LIBRECHAT_API_URL", "").strip().rstrip("/")
    chat = LibreChatServer.objects.filter(api_url=librechat_url).first() if librechat_url else None
    if chat is not None:
        lines += server_checks_ensure(
            kind="librechat", server_name=chat.name, base_url=chat.api_url, network=chat.network
        )
    return lines
