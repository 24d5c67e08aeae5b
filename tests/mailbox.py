"""Mail in tests: the portal queues every message in its outbox (portal/mail.py) and a worker
sends it. Tests without a worker process run the worker's own service, `mail.mail_send`, for
each waiting row, then read Django's test outbox."""

from __future__ import annotations

from django.core import mail as django_mail

from portal.core import mail
from portal.models import MailStatus, OutgoingMail


def deliver_queued_mail() -> list[django_mail.EmailMessage]:
    """Send every waiting mail as a worker would; returns the whole test outbox."""
    for mail_id in (
        OutgoingMail.objects.filter(status=MailStatus.WAITING).order_by("pk").values_list("pk", flat=True)
    ):
        mail.mail_send(mail_id=mail_id)
    return list(django_mail.outbox)


def portal_mail() -> list[OutgoingMail]:
    """Every mail the portal wrote, sent or not, whoever sent it (a worker, or the test)."""
    return list(OutgoingMail.objects.order_by("pk"))
