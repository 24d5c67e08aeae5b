"""A network's worker: its heartbeat and what it reports seeing from inside the network, whether
one is consuming the queue, and the alert when it goes silent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from portal.connectivity.alerts import alert_raise
from portal.connectivity.facts import NetworkFacts, this_process_facts
from portal.connectivity.models import Alert, Network
from portal.connectivity.mutes import muted_because
from portal.connectivity.vantage import vantage_groups
from portal.core import heartbeats
from portal.models import WorkerHeartbeat


def worker_report(*, network: Network, hostname: str) -> None:
    """The worker on `network` is alive, and this is what it sees: run by the network's
    heartbeat and at the start of each sweep, in the worker that consumes its queue."""
    heartbeats.heartbeat_record(queue=network.queue, hostname=hostname)
    network_facts_record(network=network, facts=this_process_facts())


def network_facts_record(*, network: Network, facts: NetworkFacts, now: datetime | None = None) -> None:
    """Store the worker's view on the network's row; the admin and every diagnosis read it."""
    seen = facts.to_dict()
    location = f"{'in a container' if facts.in_container else 'on the host'}: {facts.location_reason}"
    network.facts_seen, network.facts_seen_at = seen, now or timezone.now()
    network.worker_location_seen = location[:300]
    Network.objects.filter(pk=network.pk).update(
        facts_seen=seen,
        facts_seen_at=network.facts_seen_at,
        worker_location_seen=network.worker_location_seen,
    )


@dataclass(frozen=True)
class WorkerStatus:
    network: str
    queue: str
    last_seen: datetime | None
    stale: bool
    silent_since: datetime | None  # the time to quote: last heartbeat, or when the network was added

    @property
    def sentence(self) -> str:
        if not self.stale:
            return ""
        assert self.silent_since is not None
        when = self.silent_since.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"no worker on {self.network} since {when}"


def worker_status(
    *, network: Network, last_seen: datetime | None, now: datetime | None = None
) -> WorkerStatus:
    """Is a worker consuming the network's queue, given its queue's last heartbeat?"""
    reference = last_seen or network.created_at
    stale = (now or timezone.now()) - reference > timedelta(seconds=network.heartbeat_stale_after_seconds)
    return WorkerStatus(
        network=network.name, queue=network.queue, last_seen=last_seen, stale=stale, silent_since=reference
    )


def worker_statuses(*, networks: Iterable[Network], now: datetime | None = None) -> dict[int, WorkerStatus]:
    """Per network: is a worker consuming its queue? One query for all networks."""
    now = now or timezone.now()
    networks = list(networks)
    seen = dict(
        WorkerHeartbeat.objects.filter(queue__in=[n.queue for n in networks]).values_list("queue", "seen_at")
    )
    return {n.pk: worker_status(network=n, last_seen=seen.get(n.queue), now=now) for n in networks}


def last_heartbeat_of_queue() -> Subquery:
    """For an annotation on networks: their queue's last heartbeat (one query for a whole list)."""
    return Subquery(WorkerHeartbeat.objects.filter(queue=OuterRef("queue")).values("seen_at")[:1])


def network_workers_check(*, now: datetime | None = None) -> list[Alert]:
    """Alert once when a network's worker goes silent, and once when it is back.

    One worker serving several networks (as under `make run`) is one vantage point (vantage.py):
    its going silent is one alert per channel naming each network. Every network still records
    its own alert (the list filters by network); the others say which one was sent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # All rows locked at once, in one order: two concurrent checks cannot both flip a network.
        networks = list(Network.objects.select_for_update().order_by("name", "pk"))
        statuses = worker_statuses(networks=networks, now=now)
        went_silent, came_back = [], []
        for network in networks:
            status = statuses[network.pk]
            if status.stale and network.worker_silent_since is None:
                network.worker_silent_since = status.silent_since
                went_silent.append(network)
            elif not status.stale and network.worker_silent_since is not None:
                network.worker_silent_since = None
                came_back.append(network)
            else:
                continue
            network.save(update_fields=["worker_silent_since"])
        hostnames = dict(
            WorkerHeartbeat.objects.filter(queue__in=[n.queue for n in went_silent + came_back]).values_list(
                "queue", "hostname"
            )
        )
        raised = []
        for kind, changed in ((Alert.Kind.WORKER_SILENT, went_silent), (Alert.Kind.WORKER_BACK, came_back)):
            for group in vantage_groups(networks=changed, hostnames=hostnames):
                message = _worker_message(kind, group, statuses, hostnames)
                worker = hostnames.get(group[0].queue, "")
                raised += _raise_once(kind=kind, group=group, worker=worker, message=message, now=now)
    return raised


def _worker_message(
    kind: str, group: list[Network], statuses: dict[int, WorkerStatus], hostnames: dict[str, str]
) -> str:
    names = _and([n.name for n in group])
    if kind == Alert.Kind.WORKER_BACK:
        return f"a worker is back on {names}: checks from there resume."
    if len(group) == 1:
        [network] = group
        return (
            f"{statuses[network.pk].sentence}: its checks are stale, not up. Start the worker "
            f"attached to {network.name} (celery worker -Q {network.queue})."
        )
    # One worker: the earliest of its queues' last heartbeats is when it was last heard.
    since = min(filter(None, (statuses[n.pk].silent_since for n in group)))
    when = since.strftime("%Y-%m-%d %H:%M:%S UTC")
    worker = hostnames.get(group[0].queue, "")
    return (
        f"no worker on {names} since {when} (one worker, {worker}, served them all): their checks "
        f"are stale, not up. Start it again (celery worker -Q {','.join(n.queue for n in group)})."
    )


def _raise_once(*, kind: str, group: list[Network], worker: str, message: str, now: datetime) -> list[Alert]:
    """One alert sent for the group, by its first network not in a maintenance window; the others
    recorded as told by it (a muted network keeps its own "muted" reason: alert_raise)."""
    muted = {n.pk for n in group if muted_because(network=n, target=None, now=now)}
    sender = next((n for n in group if n.pk not in muted), group[0])
    raised = [alert_raise(kind=kind, network=sender, target=None, message=message, now=now)]
    for network in group:
        if network is sender:
            continue
        told = (
            f"Not sent: {network.name} and {sender.name} are served by the same worker ({worker}) with "
            f"the same network facts; the alert sent for {sender.name} names each."
        )
        raised.append(
            alert_raise(
                kind=kind, network=network, target=None, message=message, now=now, not_sent_because=told
            )
        )
    return raised


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
