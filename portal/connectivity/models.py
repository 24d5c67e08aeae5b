"""Connectivity tables: networks, targets, where each target is checked from, the history.

A probe's result depends on where it runs, so a target is checked once per network it is
placed on (`TargetNetwork`), by the worker attached to that network. That row also holds the
current state and its "since", so the dashboard reads one row per cell and never the history.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.connectivity.location import this_process
from portal.connectivity.probes import PRESETS, ErrorKind, ProbeKind, ProbeSpec
from portal.core.queues import network_queue_name
from portal.crypto import EncryptedTextField


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


class WorkerLocationChoice(models.TextChoices):
    DETECT = "detect", "detected by the worker"
    HOST = "host", "on the host"
    CONTAINER = "container", "in a container attached to the network"


class Network(models.Model):
    """A Docker network (`backend-dev`), probed by the worker that consumes its queue."""

    name = models.CharField(
        max_length=80,
        unique=True,
        help_text="The Docker network's name, as in `docker network create backend-dev`.",
    )
    queue = models.CharField(
        max_length=100,
        unique=True,
        editable=False,
        help_text="The Celery queue consumed only by the worker attached to this network.",
    )
    subnet = models.CharField(
        max_length=64,
        blank=True,
        help_text="The network's address range when known (`docker network inspect`), e.g. 172.20.0.0/16.",
    )
    gateway = models.GenericIPAddressField(
        null=True, blank=True, help_text="The network's gateway: the Docker host as seen from containers."
    )
    description = models.TextField(blank=True)
    host_addresses = models.TextField(
        blank=True,
        help_text="The Docker host's own addresses (e.g. its LAN address 192.168.1.131), one per line: "
        "diagnosis tells host services from LAN addresses with them, and they are tried as alternatives.",
    )
    alternative_hosts = models.TextField(
        blank=True,
        help_text="More host names or addresses to try when a target fails, one per line.",
    )
    worker_location = models.CharField(
        max_length=16,
        choices=WorkerLocationChoice.choices,
        default=WorkerLocationChoice.DETECT,
        help_text="Where this network's worker runs, which decides what `localhost` means in a "
        "diagnosis. Detected by the worker from what it sees (its interfaces, /.dockerenv, its "
        "cgroup, its hosts file); set it only when the detection is wrong.",
    )
    worker_location_seen = models.CharField(
        max_length=300,
        blank=True,
        editable=False,
        help_text="What the worker that last swept this network found, and why.",
    )
    guess_alternatives = models.BooleanField(
        default=True,
        help_text="When a target fails, also try the usual candidates: the service's well-known names, "
        "host.docker.internal and the gateway. The host addresses, alternative hosts and a target's "
        "own service names are always tried.",
    )
    sweep_every_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(5)],
        help_text="How often the sweep wakes up; each target keeps its own interval.",
    )
    heartbeat_stale_after_seconds = models.PositiveIntegerField(
        default=180,
        validators=[MinValueValidator(30)],
        help_text="After this long without a heartbeat the network's worker counts as gone.",
    )
    worker_silent_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set while the network's worker is silent (its last heartbeat), so it alerts once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.queue:
            self.queue = network_queue_name(self.name)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        errors = {}
        if self.subnet:
            try:
                self.subnet = str(ipaddress.ip_network(self.subnet.strip(), strict=False))
            except ValueError:
                errors["subnet"] = f"{self.subnet!r} is not an address range such as 172.20.0.0/16."
        bad = [a for a in self.host_address_list if not _is_ip(a)]
        if bad:
            errors["host_addresses"] = f"Not IP addresses: {', '.join(bad)}."
        if (
            self.pk is None
            and self.name
            and Network.objects.filter(queue=network_queue_name(self.name)).exists()
        ):
            errors["name"] = "Another network already uses this name's queue."
        if errors:
            raise ValidationError(errors)

    @property
    def worker_in_container(self) -> bool:
        """Where the worker runs, as the process asking sees it unless an admin set it."""
        if self.worker_location == WorkerLocationChoice.DETECT:
            return this_process().in_container
        return self.worker_location == WorkerLocationChoice.CONTAINER

    @property
    def subnet_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            return ipaddress.ip_network(self.subnet, strict=False) if self.subnet else None
        except ValueError:
            return None

    @property
    def host_address_list(self) -> list[str]:
        return _split_list(self.host_addresses)

    @property
    def alternative_host_list(self) -> list[str]:
        return _split_list(self.alternative_hosts)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Target(models.Model):
    """A service to check, given as a URL: http(s)://, tcp://, dns://, postgres://, redis://."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ProbeKind], editable=False)
    preset = models.CharField(
        max_length=40,
        blank=True,
        choices=[("", "none")] + [(name, name) for name in PRESETS],
        help_text="A known service's health check (paths, keyword, usual service names).",
    )
    address = models.CharField(
        max_length=500,
        help_text="http://litellm:4000/health/liveliness, postgres://user@postgres:5432/db, "
        "redis://redis:6379, tcp://host:port or dns://name. A password typed here moves to the "
        "encrypted field.",
    )
    password = EncryptedTextField(help_text="PostgreSQL or Redis password; stored encrypted.")
    expected_status = models.CharField(
        max_length=100,
        blank=True,
        help_text="HTTP statuses that count as healthy, e.g. 200,204. Empty: any 2xx or 3xx.",
    )
    keyword = models.CharField(max_length=200, blank=True, help_text="Text the HTTP answer must contain.")
    readiness_requires_db = models.BooleanField(
        default=False,
        help_text="LiteLLM /health/readiness: healthy only when its `db` says connected.",
    )
    verify_tls = models.BooleanField(default=True)
    service_names = models.CharField(
        max_length=300,
        blank=True,
        help_text="Names this service may have on a Docker network, tried first when it fails.",
    )
    timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    interval_seconds = models.PositiveIntegerField(default=60, validators=[MinValueValidator(5)])
    failure_threshold = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1)],
        help_text="Consecutive failures before the state turns down and alerts (avoids flapping).",
    )
    enabled = models.BooleanField(default=True)
    configured_by = models.CharField(
        max_length=60,
        blank=True,
        editable=False,
        help_text="The server or pairing this check was made for (litellm:3, librechat:1, pairing:2); "
        "its address and network follow that row. Empty: added by hand.",
    )
    # What the configured row last set (address, network, name): a field is changed again only
    # when the row's own value moves, so an operator's edit of the check stands until then.
    configured_as = models.JSONField(default=dict, blank=True, editable=False)
    networks: models.ManyToManyField[Network, TargetNetwork] = models.ManyToManyField(
        Network, through="TargetNetwork", related_name="targets"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                fields=["configured_by"],
                condition=~models.Q(configured_by=""),
                name="connectivity_target_configured_once",
            )
        ]
        # The address is where the password goes: the same rule as a server's address
        # (portal/server_address.py), under the same codename.
        permissions = [("change_server_address", "Can change a target's address (where its password goes)")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.kind:
            self.kind = ProbeSpec.from_url(self.address).kind.value
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        address = self.address.strip()
        try:
            parts = urlsplit(address)
            if parts.password:
                # Passwords never stay in the address: it is shown in pages and reports.
                self.password = parts.password
                netloc = parts.netloc.rpartition("@")[2]
                user = f"{parts.username}@" if parts.username else ""
                address = urlunsplit(parts._replace(netloc=user + netloc))
            self.address = address
            spec = self.probe_spec(with_password=False)
        except ValueError as exc:
            raise ValidationError({"address": str(exc)}) from None
        self.kind = spec.kind.value

    @property
    def expected_statuses(self) -> tuple[int, ...]:
        try:
            return tuple(int(s) for s in _split_list(self.expected_status))
        except ValueError:
            raise ValueError(f"expected status {self.expected_status!r} is not a list of numbers") from None

    @property
    def service_name_list(self) -> list[str]:
        return _split_list(self.service_names)

    def probe_spec(self, *, with_password: bool = True) -> ProbeSpec:
        """The core's spec for this target. Raises ValueError on an address it cannot use."""
        password = self.password.reveal() if (with_password and self.password) else None
        return ProbeSpec.from_url(
            self.address,
            timeout=float(self.timeout_seconds),
            expected_status=self.expected_statuses,
            keyword=self.keyword or None,
            readiness_requires_db=self.readiness_requires_db,
            preset=self.preset or None,
            verify_tls=self.verify_tls,
            password=password,
        )


class Expectation(models.TextChoices):
    REACHABLE = "reachable", "must be reachable"
    UNREACHABLE = "unreachable", "must NOT be reachable"


class State(models.TextChoices):
    UNKNOWN = "unknown", "unknown"
    UP = "up", "up"
    DOWN = "down", "down"


class TargetNetwork(models.Model):
    """A target checked from a network: what is expected there, and the current state.

    `state` changes only after `Target.failure_threshold` consecutive failures (or the first
    success), and `since` is when it last changed. The last error and its fix are copied
    here so the dashboard never reads the history table.
    """

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="placements")
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="placements")
    expect = models.CharField(max_length=16, choices=Expectation.choices, default=Expectation.REACHABLE)

    state = models.CharField(max_length=16, choices=State.choices, default=State.UNKNOWN, editable=False)
    since = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)  # NULL: due now
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_ok = models.BooleanField(null=True, editable=False)
    last_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_kind = models.CharField(max_length=40, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_fix = models.TextField(blank=True, editable=False)
    last_working_address = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["target", "network"], name="connectivity_target_network_once")
        ]
        indexes = [models.Index(fields=["network", "next_check_at"], name="conn_placement_due")]
        ordering = ("target__name", "network__name")
        verbose_name = "target on a network"

    def __str__(self) -> str:
        return f"{self.target} from {self.network}"


class CheckResult(models.Model):
    """One check of a target from a network. Append-only; pruned after some days."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="results", db_index=False)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="results", db_index=False)
    ok = models.BooleanField(help_text="Met the expectation (reachable, or isolated where it must be).")
    answered = models.BooleanField(help_text="The probe itself succeeded.")
    latency_ms = models.FloatField(null=True, blank=True)
    resolved_addresses = models.JSONField(default=list, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=40, blank=True, choices=[(k.value, k.value) for k in ErrorKind])
    phase = models.CharField(max_length=16, blank=True)
    detail = models.TextField(blank=True)
    diagnosis_kind = models.CharField(max_length=40, blank=True)
    diagnosis = models.TextField(blank=True)
    suggested_fix = models.TextField(blank=True)
    tls_days_left = models.IntegerField(null=True, blank=True)
    alternatives = models.JSONField(
        default=list, blank=True, help_text="Other addresses tried from the same network, and which answered."
    )
    checked_at = models.DateTimeField()

    class Meta:
        # Every list filter the admin offers has an index ending in the list's ordering, so a
        # filtered page of a million-row table is an index range scan, not a sort.
        indexes = [
            models.Index(fields=["-checked_at", "-id"], name="conn_result_recent"),
            models.Index(fields=["network", "-checked_at", "-id"], name="conn_result_network"),
            # "Failures seen from backend-prod": the combination operators filter on most. Without
            # it a network with no failures at all is a full scan to find none.
            models.Index(fields=["network", "ok", "-checked_at", "-id"], name="conn_result_network_ok"),
            models.Index(fields=["target", "network", "-checked_at", "-id"], name="conn_result_target"),
            models.Index(fields=["ok", "-checked_at", "-id"], name="conn_result_ok"),
            models.Index(fields=["error_kind", "-checked_at", "-id"], name="conn_result_error"),
        ]
        ordering = ("-checked_at", "-id")

    def __str__(self) -> str:
        return f"{self.target_id}@{self.network_id} {'ok' if self.ok else 'failed'} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class HourlyRollup(models.Model):
    """Checks and failures per (target, network, hour): uptime and sparklines without the history."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="+", db_index=False)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    checks = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    latency_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["target", "network", "hour"], name="connectivity_rollup_once")
        ]
        indexes = [models.Index(fields=["hour"], name="conn_rollup_hour")]

    def __str__(self) -> str:
        return f"{self.target_id}@{self.network_id} {self.hour:%Y-%m-%d %H}h"


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
        return _split_list(self.email_to)

    def clean(self) -> None:
        if self.kind == self.Kind.EMAIL and not self.recipients:
            raise ValidationError({"email_to": "An email channel needs at least one address."})


class Alert(models.Model):
    """One change worth telling people about. Created once per change; delivered per channel."""

    class Kind(models.TextChoices):
        DOWN = "down", "down"
        UP = "up", "back up"
        WORKER_SILENT = "worker_silent", "worker silent"
        WORKER_BACK = "worker_back", "worker back"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="alerts")
    target = models.ForeignKey(Target, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts")
    message = models.TextField()
    created_at = models.DateTimeField()

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
