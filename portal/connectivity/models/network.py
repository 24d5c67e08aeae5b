"""A Docker network (`backend-dev`), what its worker reports from inside it, and the pins an
operator may set over that report."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from portal.connectivity.cert_thresholds import validate_tls_alert_days
from portal.connectivity.facts import NetworkFacts
from portal.connectivity.location import this_process
from portal.core.queues import network_queue_name

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_list(text: str) -> list[str]:
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
        help_text="Leave empty: the network's worker reports the subnets it sees. Pin a range "
        "(e.g. 172.20.0.0/16) only when that report is wrong; a pinned value wins.",
    )
    gateway = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="Leave empty: the worker reports its default gateway (the Docker host as seen from "
        "containers). A pinned gateway wins and must lie inside the subnet.",
    )
    facts_seen = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="What the network's worker last reported from inside: addresses and subnets, "
        "gateway, resolvers, search domains, hosts-file names, container or host.",
    )
    facts_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
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
    tls_alert_days = models.CharField(
        "certificate alerts (days left)",
        max_length=50,
        blank=True,
        validators=[validate_tls_alert_days],
        help_text="For its targets that set none, e.g. 30, 14, 7. Empty: 30, 14, 7.",
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
                if "/" not in self.subnet:
                    raise ValueError("no prefix length")
                self.subnet = str(ipaddress.ip_network(self.subnet.strip(), strict=False))
            except ValueError:
                errors["subnet"] = (
                    f"{self.subnet!r} is not an address range in CIDR form, such as 172.20.0.0/16."
                )
        gateway_error = self._gateway_pin_error()
        if gateway_error and "subnet" not in errors:
            errors["gateway"] = gateway_error
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

    def _gateway_pin_error(self) -> str:
        """A pinned gateway outside the subnet (pinned, else the worker's) is a typo: refuse it."""
        if not self.gateway:
            return ""
        try:
            gateway = ipaddress.ip_address(str(self.gateway))
        except ValueError:
            return f"{self.gateway!r} is not an IP address."
        subnets = [self.subnet_network] if self.subnet_network else list(self.seen_subnets)
        if subnets and not any(gateway in s for s in subnets if gateway.version == s.version):
            where = ", ".join(str(s) for s in subnets)
            return f"The gateway {gateway} lies outside the subnet {where}: a gateway is an address in it."
        return ""

    @property
    def facts(self) -> NetworkFacts | None:
        """What the worker reported, or None before its first report."""
        return NetworkFacts.from_dict(self.facts_seen) if self.facts_seen else None

    @property
    def seen_subnets(self) -> tuple[IPNetwork, ...]:
        facts = self.facts
        return tuple(ipaddress.ip_network(s) for s in facts.subnets) if facts else ()

    @property
    def worker_in_container(self) -> bool:
        """Where the worker runs: an admin's pin, else the worker's report, else this process."""
        if self.worker_location != WorkerLocationChoice.DETECT:
            return self.worker_location == WorkerLocationChoice.CONTAINER
        facts = self.facts
        return facts.in_container if facts else this_process().in_container

    def pin_disagreements(self) -> list[str]:
        """Pinned values the worker's own view contradicts: shown on the row and in diagnoses."""
        facts = self.facts
        if facts is None:
            return []
        found = []
        pinned = self.subnet_network
        if pinned and facts.subnets and not any(pinned.overlaps(s) for s in self.seen_subnets):
            found.append(f"pinned subnet {pinned}, the worker sees {', '.join(facts.subnets)}")
        if self.gateway and facts.gateway and str(self.gateway) != facts.gateway:
            found.append(f"pinned gateway {self.gateway}, the worker sees {facts.gateway}")
        if self.worker_location != WorkerLocationChoice.DETECT and (
            (self.worker_location == WorkerLocationChoice.CONTAINER) != facts.in_container
        ):
            seen = "in a container" if facts.in_container else "on the host"
            found.append(f"pinned {self.get_worker_location_display()}, the worker finds itself {seen}")
        return found

    @property
    def subnet_network(self) -> IPNetwork | None:
        try:
            return ipaddress.ip_network(self.subnet, strict=False) if self.subnet else None
        except ValueError:
            return None

    @property
    def host_address_list(self) -> list[str]:
        return split_list(self.host_addresses)

    @property
    def alternative_host_list(self) -> list[str]:
        return split_list(self.alternative_hosts)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
