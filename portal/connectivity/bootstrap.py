"""Bootstrap steps: every network's sweep and heartbeat beat entries, and the global ones.

The data migration creates them for the seeded networks and a signal for new rows; this
step repairs a database where an entry was deleted by hand. Never overwrites an edit.
"""

from __future__ import annotations

from collections.abc import Mapping

from portal.bootstrap import bootstrap_step


@bootstrap_step
def connectivity_schedules(environ: Mapping[str, str]) -> list[str]:
    from portal.connectivity import services
    from portal.connectivity.models import Network

    created = services.global_schedules_ensure()
    for network in Network.objects.all():
        created += services.network_schedule_ensure(network=network)
    return [f"beat entry '{name}' created" for name in created] or ["connectivity beat entries already there"]
