from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.crypto import EncryptedTextField


class WorkerHeartbeat(models.Model):
    """The last time a worker consuming `queue` proved it was alive (a beat job per queue).

    A queue whose heartbeat is old has no worker: work routed there waits, and anything that
    reports state from that queue (a network's probes) is stale, not "up".
    """

    queue = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ("queue",)

    def __str__(self) -> str:
        return f"{self.queue} @ {self.hostname}"


class MailStatus(models.TextChoices):
    WAITING = "waiting", "waiting"
    SENT = "sent", "sent"
    FAILED = "failed", "failed (gave up)"


class OutgoingMail(models.Model):
    """One message the portal sends (portal/mail.py). The row is the source of truth: a
    worker sends it after the request that queued it has answered, retries with backoff, and
    staff see here what did not go out and why."""

    kind = models.CharField(max_length=40)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    # Verification and reset links are credentials: encrypted at rest, never shown in the admin.
    body = EncryptedTextField()
    status = models.CharField(max_length=10, choices=MailStatus.choices, default=MailStatus.WAITING)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="mail_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}"
