"""A network's beat entries: its sweep and its heartbeat, both routed to its own queue."""

from __future__ import annotations

from portal.connectivity.models import Network
from portal.core import schedules

SWEEP_TASK = "connectivity.network_sweep"
# The network's own heartbeat: the kit's heartbeat plus what the worker sees (workers.worker_report).
HEARTBEAT_TASK = "connectivity.network_heartbeat"
HEARTBEAT_EVERY_SECONDS = 60


def sweep_task_name(network_name: str) -> str:
    return f"connectivity sweep: {network_name}"


def heartbeat_task_name(queue: str) -> str:
    return schedules.heartbeat_schedule_name(queue)


def network_schedule_ensure(*, network: Network) -> list[str]:
    """The network's sweep and heartbeat beat entries, both routed to its queue.

    Created only when absent: an admin may have changed the interval since.
    """
    created = []
    if schedules.periodic_task_ensure(
        name=sweep_task_name(network.name),
        task=SWEEP_TASK,
        every_seconds=network.sweep_every_seconds,
        queue=network.queue,
        kwargs={"network_id": network.pk},
    ):
        created.append(sweep_task_name(network.name))
    if schedules.periodic_task_ensure(
        name=heartbeat_task_name(network.queue),
        task=HEARTBEAT_TASK,
        every_seconds=HEARTBEAT_EVERY_SECONDS,
        queue=network.queue,
        kwargs={"network_id": network.pk},
    ):
        created.append(heartbeat_task_name(network.queue))
    return created


def network_sweep_interval_sync(*, network: Network) -> bool:
    """After an admin changed the network's sweep interval: move its beat entry along.

    Returns True when the entry changed. Saved through the model, so django-celery-beat's
    change signal tells a running beat to reload.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    entry = PeriodicTask.objects.filter(name=sweep_task_name(network.name)).select_related("interval").first()
    if entry is None or (entry.interval and entry.interval.every == network.sweep_every_seconds):
        return False
    entry.interval, _ = IntervalSchedule.objects.get_or_create(
        every=network.sweep_every_seconds, period=IntervalSchedule.SECONDS
    )
    entry.save(update_fields=["interval"])
    return True


def network_schedule_remove(*, network: Network) -> None:
    from django_celery_beat.models import PeriodicTask

    for task in PeriodicTask.objects.filter(
        name__in=[sweep_task_name(network.name), heartbeat_task_name(network.queue)]
    ):
        task.delete()  # one by one, so django-celery-beat's change signal tells the scheduler
