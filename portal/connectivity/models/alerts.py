"""Alerts: where they go (channels), each change worth telling (alerts), each delivery."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from portal.accounts.addresses import AddressRefused, canonical_email
from portal.connectivity.models.network import Network, split_list
from portal.connectivity.models.target import Target, TargetNetwork
from portal.crypto import EncryptedTextField


class AlertChannel(models.Model):
    """Where alerts go: an email list (Django's email backend) or a JSON webhook (Slack `text`)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "email"
        WEBHOOK = "webhook", "webhook (JSON, Slack-compatible)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    email_to = models.CharField(max_length=500, blank=True, help_text="Addresses, comma-separated.")
    # A Slack incoming-webhook URL is itself the credential: encrypted, never shown again.
    webhook_url = EncryptedTextField(help_text="Stored encrypted.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def recipients(self) -> list[str]:
        return split_list(self.email_to)

    def clean(self) -> None:
        if self.kind == self.Kind.EMAIL:
            self.email_to = ", ".join(canonical_recipients(self.email_to))
            if not self.email_to:
                raise ValidationError({"email_to": "An email channel needs at least one address."})


def canonical_recipients(raw: str) -> list[str]:
    """Each address of a comma-separated list in the portal's one canonical form (the same rules
    as a person's address: portal/accounts/addresses.py), or ValidationError on `email_to` naming
    each address refused: `ops at example dot com` was once saved and mailed to."""
    canonical: list[str] = []
    refused: list[str] = []
    for address in split_list(raw):
        try:
            email = canonical_email(address)
        except AddressRefused as exc:
            refused.append(f"{address[:100]!r} is not a usable address. {exc}")
        else:
            if email not in canonical:
                canonical.append(email)
    if refused:
        raise ValidationError({"email_to": refused})
    return canonical


class Alert(models.Model):
    """One change worth telling people about. Created once per change; delivered per channel."""

    class Kind(models.TextChoices):
        DOWN = "down", "down"
        UP = "up", "back up"
        WORKER_SILENT = "worker_silent", "worker silent"
        WORKER_BACK = "worker_back", "worker back"
        CERT_EXPIRING = "cert_expiring", "certificate expiring"
        BUDGET = "budget", "budget alert"  # a LiteLLM key crossed a threshold (budget_alerts.py)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="alerts")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts")
    message = models.TextField()
    created_at = models.DateTimeField()
    # Recorded but not delivered, and why: told already from the same vantage point (vantage.py).
    not_sent_because = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["-created_at"], name="conn_alert_recent")]

    def __str__(self) -> str:
        return self.message[:80]


class AlertDelivery(models.Model):
    """An alert to one channel: delivered once, retried a few times when the channel fails."""

    MAX_ATTEMPTS = 5

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="connectivity_alert_delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["id"], name="conn_delivery_pending", condition=models.Q(delivered_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} -> {self.channel_id}"


class MuteWindow(models.Model):
    """A planned maintenance: while it lasts, state changes of its target or network (or of that
    target on that network, when both are chosen) are recorded but not sent."""

    target = models.ForeignKey(
        Target, on_delete=models.CASCADE, null=True, blank=True, related_name="mute_windows"
    )
    network = models.ForeignKey(
        Network, on_delete=models.CASCADE, null=True, blank=True, related_name="mute_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, help_text="Shown on the dashboard, e.g. a ticket.")

    class Meta:
        ordering = ("-starts_at", "-id")
        indexes = [models.Index(fields=["ends_at"], name="conn_mute_ends")]

    def __str__(self) -> str:
        return f"muted {self.scope} until {self.ends_at:%Y-%m-%d %H:%M} UTC"

    @property
    def scope(self) -> str:
        where = [str(part) for part in (self.target, self.network) if part is not None]
        return " on ".join(where)

    def clean(self) -> None:
        if self.target_id is None and self.network_id is None:
            raise ValidationError(
                "Choose the target or the network to mute (or both: that target on that network)."
            )
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError(
                {"ends_at": "The window ends before it starts: choose an end after the start."}
            )


class CertificateWarning(models.Model):
    """One expiry threshold crossed by one certificate seen from one placement: the unique row
    is what makes each threshold alert once, however many checks or workers see it."""

    placement = models.ForeignKey(
        TargetNetwork, on_delete=models.CASCADE, related_name="certificate_warnings"
    )
    threshold_days = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=64)  # SHA-256 of the certificate: a renewal is new
    days_left = models.IntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["placement", "threshold_days", "fingerprint"], name="conn_cert_warning_once"
            )
        ]

    def __str__(self) -> str:
        return f"certificate at {self.days_left} days left (threshold {self.threshold_days})"
