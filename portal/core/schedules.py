"""Every beat entry the portal runs, in one table, and the one way to create them.

The per-network entries (a network's sweep and heartbeat, routed to its queue) are made by
connectivity when a network is added: they depend on rows, not on the code. Everything else
is listed here. Entries are created only when absent (`periodic_task_ensure`): an admin may
have changed an interval since, and that edit wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from portal.core.queues import DEFAULT_QUEUE


@dataclass(frozen=True)
class Schedule:
    name: str  # the beat entry's name: what staff see under Periodic tasks
    task: str
    every_seconds: int
    queue: str = DEFAULT_QUEUE  # the beat hands work out from here; vendor calls go per network
    kwargs: tuple[tuple[str, object], ...] = ()


HEARTBEAT_TASK = "portal.worker_heartbeat"


def heartbeat_schedule_name(queue: str) -> str:
    return f"heartbeat: {queue}"


BEAT_SCHEDULES: tuple[Schedule, ...] = (
    Schedule(heartbeat_schedule_name(DEFAULT_QUEUE), HEARTBEAT_TASK, 60, kwargs=(("queue", DEFAULT_QUEUE),)),
    Schedule("portal: send due mail", "portal.mails_send_due", 60),
    Schedule("accounts: invitation imports due", "accounts.invitation_imports_due", 60),
    Schedule("accounts: personal key steps due", "access.personal_keys_due", 30),
    Schedule("accounts: reconcile people's keys", "access.pairings_reconcile", 60 * 60),
    Schedule("librechat: provision due accounts", "librechat.accounts_provision_due", 30),
    Schedule("litellm: sync keys and models", "litellm.servers_sync", 15 * 60),
    Schedule("litellm: retry due key actions", "litellm.keys_due", 60),
    Schedule("litellm: rotations in their grace period", "litellm.rotations_in_grace_due", 60),
    Schedule("litellm: prune old spend history", "litellm.spend_history_prune", 3600),
    Schedule("litellm: spend totals for the admin", "litellm.spend_windows_refresh", 15 * 60),
    Schedule("connectivity: workers check and alert delivery", "connectivity.workers_check", 60),
    Schedule("connectivity: prune old results", "connectivity.results_prune", 3600),
)


def schedule_named(name: str) -> Schedule:
    return next(s for s in BEAT_SCHEDULES if s.name == name)


def schedules_ensure(schedules: tuple[Schedule, ...] = BEAT_SCHEDULES) -> list[str]:
    """Create the entries that are absent; one line per entry, for `manage.py bootstrap`."""
    return [
        f"beat entry {s.name!r} "
        + (
            "created"
            if periodic_task_ensure(
                name=s.name, task=s.task, every_seconds=s.every_seconds, queue=s.queue, kwargs=dict(s.kwargs)
            )
            else "already there"
        )
        for s in schedules
    ]


def periodic_task_ensure(
    *, name: str, task: str, every_seconds: int, queue: str, kwargs: dict[str, object] | None = None
) -> bool:
    """Create a beat entry when none has this name. Never touches one an admin may have edited.

    Returns True when it created the entry.
    """
    with transaction.atomic():
        if PeriodicTask.objects.filter(name=name).exists():
            return False
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=every_seconds, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.create(
            name=name,
            task=task,
            interval=interval,
            queue=queue,
            kwargs=json.dumps(kwargs or {}),
        )
    return True
