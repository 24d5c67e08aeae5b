"""Where a check is seen from, so one outage seen twice from the same place is told once.

Under `make run` one Celery worker consumes every network's queue: its checks "from backend"
and "from frontend" run in the same process, see the same routes and resolver, and fail
together. Each network's column still records its own state (the dashboard shows both), but
an operator must hear about the outage once per channel.

A vantage point is the worker's hostname (its queue's heartbeat, as Celery names it) plus the
facts that worker last reported for the network (network.facts_seen: addresses, gateway,
resolvers, hosts file, container markers, its own hostname). Two networks are one vantage point
only when both agree: a hostname alone would merge two containers that happen to share a name
on different hosts; facts alone would merge two identical namespaces on different machines.
A network whose worker has not reported yet has no vantage point and always alerts itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from portal.connectivity.models import Alert, Network, State, Target, TargetNetwork
from portal.models import WorkerHeartbeat


def vantage_key(*, network: Network, worker_hostname: str) -> str:
    """A stable digest of where `network`'s checks run, or "" when that is not known yet."""
    if not worker_hostname or not network.facts_seen:
        return ""
    seen = json.dumps({"worker": worker_hostname, "facts": network.facts_seen}, sort_keys=True)
    return hashlib.sha256(seen.encode()).hexdigest()


def vantage_groups(*, networks: list[Network], hostnames: dict[str, str]) -> list[list[Network]]:
    """`networks` grouped by vantage point, in their given order; a network without one (no
    heartbeat or no facts yet) is a group of its own. `hostnames`: queue -> last worker."""
    groups: dict[str, list[Network]] = {}  # in the order of each group's first network
    for network in networks:
        key = vantage_key(network=network, worker_hostname=hostnames.get(network.queue, ""))
        groups.setdefault(key or f"alone {network.pk}", []).append(network)  # never a sha256 hex
    return list(groups.values())


def already_told(*, placement: TargetNetwork, kind: str, down_since: datetime | None) -> str:
    """Why this change needs no alert of its own ("" when it does): another network of the same
    target, seen from the same vantage point, has already told it.

    Down: a sibling is already down. Up: a sibling came back up during this outage (its "back
    up" went out). Called inside check_record's transaction after the state is saved.
    """
    if kind not in (Alert.Kind.DOWN, Alert.Kind.UP):
        return ""
    # One target's changes are decided one at a time: the second network to change waits here
    # for the first one's commit, then sees its new state (READ COMMITTED reads it afresh).
    Target.objects.select_for_update().filter(pk=placement.target_id).exists()
    siblings = list(
        TargetNetwork.objects.filter(target_id=placement.target_id)
        .exclude(pk=placement.pk)
        .select_related("network")
    )
    if not siblings:
        return ""
    networks = [placement.network, *(s.network for s in siblings)]
    hostnames = dict(
        WorkerHeartbeat.objects.filter(queue__in=[n.queue for n in networks]).values_list("queue", "hostname")
    )
    mine = vantage_key(network=placement.network, worker_hostname=hostnames.get(placement.network.queue, ""))
    if not mine:
        return ""
    for sibling in siblings:
        if (
            vantage_key(network=sibling.network, worker_hostname=hostnames.get(sibling.network.queue, ""))
            != mine
        ):
            continue
        if _told(sibling, kind=kind, down_since=down_since):
            worker = hostnames[placement.network.queue]
            told = "is DOWN" if kind == Alert.Kind.DOWN else "is back up"
            return (
                f"Not sent: {placement.target.name} {told} from {sibling.network.name} too, seen by the "
                f"same worker ({worker}) with the same network facts; that alert was sent."
            )
    return ""


def _told(sibling: TargetNetwork, *, kind: str, down_since: datetime | None) -> bool:
    if kind == Alert.Kind.DOWN:
        return sibling.state == State.DOWN
    return (
        sibling.state == State.UP
        and sibling.since is not None
        and (down_since is None or sibling.since >= down_since)
    )
