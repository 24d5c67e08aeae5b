"""Bootstrap steps: every network's sweep and heartbeat beat entries, and the health checks
of every configured server and pairing.

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
def configured_server_checks(environ: Mapping[str, str]) -> list[str]:
    """The health checks of every LiteLLM and LibreChat server and every pairing (the
    integrations' own steps made or found the servers the environment names; connectivity
    reads those rows, never the other way round). The receivers keep them in step from here."""
    from portal.connectivity.server_checks import configured_checks_sync_all

    return configured_checks_sync_all()
