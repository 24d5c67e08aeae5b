from __future__ import annotations

from celery import shared_task

from portal import services


@shared_task(name="portal.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queue: str) -> None:
    """Routed to `queue`; it runs only if a worker consumes that queue."""
    from celery import current_task

    hostname = (current_task.request.hostname or "") if current_task else ""
    services.heartbeat_record(queue=queue, hostname=hostname)
