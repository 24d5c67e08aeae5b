"""A target (a service to check, given as a URL), where it is checked from, and what was seen."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.connectivity.cert_thresholds import validate_tls_alert_days
from portal.connectivity.models.network import Network, split_list
from portal.connectivity.probes import PRESETS, ErrorKind, ProbeKind, ProbeSpec
from portal.connectivity.probes.presets import preset_choice_label
from portal.connectivity.probes.spec import ERROR_KIND_LABELS, PROBE_KIND_LABELS
from portal.core.validators import network_host_problem
from portal.crypto import EncryptedTextField


class Target(models.Model):
    """A service to check, given as a URL: http(s)://, tcp://, dns://, postgres://, redis://."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(
        max_length=16, choices=[(k.value, PROBE_KIND_LABELS[k]) for k in ProbeKind], editable=False
    )
    preset = models.CharField(
        max_length=40,
        blank=True,
        choices=[("", "none")] + [(name, preset_choice_label(name)) for name in PRESETS],
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
    verify_tls = models.BooleanField(verbose_name="verify TLS", default=True)
    service_names = models.CharField(
        max_length=300,
        blank=True,
        help_text="Names this service may have on a Docker network, tried first when it fails.",
    )
    timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    interval_seconds = models.PositiveIntegerField(default=60, validators=[MinValueValidator(5)])
    tls_alert_days = models.CharField(
        "certificate alerts (days left)",
        max_length=50,
        blank=True,
        validators=[validate_tls_alert_days],
        help_text="e.g. 30, 14, 7. Empty: the network's, else 30, 14, 7.",
    )
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
        # The same host rule as every address inside a network (portal.core.validators).
        problem = network_host_problem(spec.target_host) if spec.target_host else None
        if problem:
            raise ValidationError({"address": f"This address cannot be checked: {problem}."})
        self.kind = spec.kind.value

    @property
    def expected_statuses(self) -> tuple[int, ...]:
        try:
            return tuple(int(s) for s in split_list(self.expected_status))
        except ValueError:
            raise ValueError(f"expected status {self.expected_status!r} is not a list of numbers") from None

    @property
    def service_name_list(self) -> list[str]:
        return split_list(self.service_names)

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
    last_tls_days_left = models.IntegerField(
        verbose_name="last TLS days left", null=True, blank=True, editable=False
    )
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_kind = models.CharField(max_length=40, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_fix = models.TextField(blank=True, editable=False)
    last_working_address = models.CharField(max_length=500, blank=True, editable=False)
    # The last checks for the heartbeat bar, kept here by the check writer (heartbeat.py).
    recent_checks = models.JSONField(default=list, blank=True, editable=False)

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
    http_status = models.PositiveSmallIntegerField(verbose_name="HTTP status", null=True, blank=True)
    error_kind = models.CharField(
        max_length=40, blank=True, choices=[(k.value, ERROR_KIND_LABELS[k]) for k in ErrorKind]
    )
    phase = models.CharField(max_length=16, blank=True)
    detail = models.TextField(blank=True)
    diagnosis_kind = models.CharField(max_length=40, blank=True)
    diagnosis = models.TextField(blank=True)
    suggested_fix = models.TextField(blank=True)
    tls_days_left = models.IntegerField(verbose_name="TLS days left", null=True, blank=True)
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
