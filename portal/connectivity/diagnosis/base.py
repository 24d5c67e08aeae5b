"""The facts every diagnosis class reads: the target, where it resolved, and the network."""

from __future__ import annotations

from portal.connectivity.diagnosis.context import HOST_GATEWAY_NAME, NetworkContext, ip
from portal.connectivity.diagnosis.kinds import Diagnosis, DiagnosisKind
from portal.connectivity.probes import PRESETS, ProbeOutcome, ProbeSpec

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
KIND_LABELS = {
    "http": "HTTP",
    "tcp": "TCP",
    "dns": "DNS",
    "postgres": "PostgreSQL",
    "redis": "Redis",
}


class DiagnoserBase:
    def __init__(self, spec: ProbeSpec, outcome: ProbeOutcome, context: NetworkContext) -> None:
        self.spec, self.outcome, self.context = spec, outcome, context
        self.host = spec.target_host
        self.port = spec.target_port
        self.net = context.label
        self.ip = target_ip(spec, outcome)
        self.preset = PRESETS.get(spec.preset or "")
        self.hostport = hostport(self.host, self.port)
        self.detail = outcome.detail.rstrip(". ")  # embedded in sentences that add their own

    def diagnosis(self, kind: DiagnosisKind, summary: str, fix: str) -> Diagnosis:
        if self.context.notes:  # a pin the worker contradicts may be why the sentence is wrong
            summary += f" (A pin disagrees with what the worker sees: {'; '.join(self.context.notes)}.)"
        return Diagnosis(kind, summary, fix)

    def holder(self) -> str:
        """Who is known to hold the target's address: on the network whose subnet it is in
        first, then on any network; "" when nobody is known to."""
        address = self.ip or ""
        other = self.context.network_holding(address)
        networks = [
            *([other.holders] if other else []),
            self.context.holders,
            *(o.holders for o in self.context.others),
        ]
        return next((holders[address] for holders in networks if address in holders), "")

    def is_loopback(self) -> bool:
        if self.host.lower() in _LOOPBACK_NAMES:
            return True
        addresses = [ip(a) for a in (self.host, *self.outcome.resolved_addresses)]
        known = [a for a in addresses if a is not None]
        return bool(known) and all(a.is_loopback for a in known)

    def is_host_gateway(self, *, named_only: bool = False) -> bool:
        """The target is the Docker host as seen from the network."""
        if self.host == HOST_GATEWAY_NAME:
            return True
        if self.ip is None:
            return False
        if self.ip == self.context.gateway:
            return True
        return not named_only and self.ip in self.context.host_addresses

    def in_subnet(self) -> bool:
        address = ip(self.ip or "")
        subnet = self.context.subnet
        return address is not None and subnet is not None and address in subnet

    def service_example(self) -> str:
        """The name to suggest: another target on this network at the same port (it answers to
        a name there), else the service's usual name (its preset, or its port), else a blank."""
        neighbours = [n for n in self.context.names_by_port.get(self.port or 0, ()) if n != self.host]
        if neighbours:
            return neighbours[0]
        by_port = [p for p in PRESETS.values() if p.kind is self.spec.kind and p.port == self.port]
        for preset in (self.preset, *by_port):
            if preset and preset.service_names:
                return preset.service_names[0]
        return "<service>"

    def url(self, scheme: str | None = None, *, host: str | None = None) -> str:
        """The target with another scheme or host: the address to try instead."""
        spec = self.spec
        if host is not None:
            spec = spec.with_host(host)
        if spec.kind.value != "http":
            return hostport(spec.target_host, spec.target_port)
        target = spec.target
        if scheme and not target.startswith(f"{scheme}://"):
            target = f"{scheme}://" + target.partition("://")[2]
        return target

    def internal_url(self) -> str:
        """The service by name on its container port: how calls inside the network go."""
        port = self.preset.port if self.preset else self.port
        return f"http://{self.service_example()}:{port}{self.spec.path}"

    def health_path_hint(self) -> str:
        label = self.preset.label if self.preset else ""
        if label == "LiteLLM":
            return "LiteLLM's health paths are /health/liveliness (no key) and /health/readiness."
        if label == "LibreChat":
            return "LibreChat's health path is /health (there is no /api/health)."
        if label == "Ollama":
            return "Ollama answers on /api/tags (and / with 'Ollama is running')."
        return (
            "Check the path. Known health paths: LiteLLM /health/liveliness, LibreChat /health "
            "(not /api/health), Ollama /api/tags."
        )


def target_ip(spec: ProbeSpec, outcome: ProbeOutcome) -> str | None:
    if ip(spec.target_host) is not None:
        return spec.target_host
    if outcome.connected_address:
        return outcome.connected_address
    return outcome.resolved_addresses[0] if outcome.resolved_addresses else None


def hostport(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host
