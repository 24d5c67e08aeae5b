"""Worker heartbeats: a beat entry per queue runs `portal.worker_heartbeat` there, and the
row it stamps tells the dashboard (and a person waiting on an admin action) that a worker
consumes that queue."""

from __future__ import annotations

from django.utils import timezone

from portal.models import WorkerHeartbeat


def heartbeat_record(*, queue: str, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, defaults={"hostname": hostname[:255], "seen_at": timezone.now()}
    )
    return heartbeat
