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
    """Alert once when a network's worker goes silent, and once when it is back."""
    now = now or timezone.now()
    raised = []
    networks = list(Network.objects.all())
    statuses = worker_statuses(networks=networks, now=now)
    for network in networks:
        status = statuses[network.pk]
        with transaction.atomic():
            locked = Network.objects.select_for_update().get(pk=network.pk)
            if status.stale and locked.worker_silent_since is None:
                locked.worker_silent_since = status.silent_since
                kind, message = (
                    Alert.Kind.WORKER_SILENT,
                    f"{status.sentence}: its checks are stale, not up. Start the worker "
                    f"attached to {network.name} (celery worker -Q {network.queue}).",
                )
            elif not status.stale and locked.worker_silent_since is not None:
                locked.worker_silent_since = None
                kind, message = (
                    Alert.Kind.WORKER_BACK,
                    f"a worker is back on {network.name}: checks from there resume.",
                )
            else:
                continue
            locked.save(update_fields=["worker_silent_since"])
            raised.append(alert_raise(kind=kind, network=locked, target=None, message=message, now=now))
    return raised
