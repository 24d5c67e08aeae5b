from __future__ import annotations

from celery import shared_task

from portal.core import heartbeats


@shared_task(name="portal.worker_heartbeat", ignore_result=True)
def worker_heartbeat(queue: str) -> None:
    """Routed to `queue`; it runs only if a worker consumes that queue."""
    from celery import current_task

    hostname = (current_task.request.hostname or "") if current_task else ""
    heartbeats.heartbeat_record(queue=queue, hostname=hostname)


@shared_task(name="portal.mail_send")
def mail_send_task(mail_id: int) -> str:
    """Send one queued mail; the outcome word only ("sent", "retry", "failed", "gone")."""
    from portal.core import mail

    return mail.mail_send(mail_id=mail_id)


@shared_task(name="portal.mails_send_due", ignore_result=True)
def mails_send_due_task() -> int:
    """Beat: hand every mail whose next attempt is due to a worker."""
    from portal.core import mail

    return mail.mails_send_due()
