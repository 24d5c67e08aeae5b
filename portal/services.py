"""Cross-cutting domain actions of the portal itself (heartbeats, periodic task registry)."""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from portal.models import WorkerHeartbeat


def heartbeat_record(*, queue: str, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, defaults={"hostname": hostname[:255], "seen_at": timezone.now()}
    )
    return heartbeat


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
