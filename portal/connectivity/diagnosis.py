"""Diagnosis: from a probe outcome and where it ran, one sentence and the fix.

Pure: no I/O. The classes follow the Docker mistakes the seeds ran into (SEEDS.md 1, 3, 5):
`localhost` inside a container, `host.docker.internal` missing on Linux, a host service bound
to 127.0.0.1, a LAN address that times out from a container, a service on another network,
a CDN answering 403 for an internal call, and a wrong health path.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from portal.connectivity.probes import PRESETS, ErrorKind, Phase, ProbeOutcome, ProbeSpec

HOST_GATEWAY_NAME = "host.docker.internal"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_PROXY_MARKS = ("cloudflare", "cf-ray", "attention required", "cloudfront", "akamai")
_KIND_LABELS = {
    "http": "HTTP",
    "tcp": "TCP",
    "dns": "DNS",
    "postgres": "PostgreSQL",
    "redis": "Redis",
}

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class NetworkContext:
    """Where a probe ran, and what its result should be.

    `host_addresses` are the Docker host's own addresses an admin lists for this network
    (its LAN address, say): a refusal there is a host service, a timeout there a LAN address
    the containers cannot use. `expect_reachable=False` marks an isolation check: the target
    must NOT answer from this network.
    """

    network: str | None = None
    subnet: IPNetwork | None = None
    gateway: str | None = None
    in_container: bool = True
    expect_reachable: bool = True
    host_addresses: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.network or ("this container's network" if self.in_container else "here")


class DiagnosisKind(StrEnum):
    OK = "ok"
    ISOLATED = "isolated"  # not reachable, and must not be
    NOT_ISOLATED = "not_isolated"
    LOOPBACK_IN_CONTAINER = "loopback_in_container"
    HOST_GATEWAY_UNRESOLVED = "host_gateway_unresolved"
    NAME_NOT_ON_NETWORK = "name_not_on_network"
    NAME_UNRESOLVED = "name_unresolved"
    DNS_TIMEOUT = "dns_timeout"
    HOST_SERVICE_LOOPBACK_ONLY = "host_service_loopback_only"
    SERVICE_DOWN_OR_WRONG_PORT = "service_down_or_wrong_port"
    HOST_PORT_CLOSED = "host_port_closed"
    REFUSED = "refused"
    ADDRESS_NOT_IN_USE = "address_not_in_use"
    HOST_FIREWALL = "host_firewall"
    LAN_ADDRESS_FROM_CONTAINER = "lan_address_from_container"
    CONNECT_TIMEOUT = "connect_timeout"
    NO_ROUTE = "no_route"
    TLS_NOT_ANSWERED = "tls_not_answered"
    NO_ANSWER = "no_answer"
    TLS_TO_PLAIN = "tls_to_plain"
    PLAIN_TO_TLS = "plain_to_tls"
    TLS_ERROR = "tls_error"
    WRONG_PATH = "wrong_path"
    BLOCKED_BY_PROXY = "blocked_by_proxy"
    UNAUTHORIZED = "unauthorized"
    SERVICE_FAILING = "service_failing"
    UNEXPECTED_STATUS = "unexpected_status"
    KEYWORD_MISSING = "keyword_missing"
    DB_NOT_CONNECTED = "db_not_connected"
    AUTH_FAILED = "auth_failed"
    SERVER_ERROR = "server_error"
    PROTOCOL_ERROR = "protocol_error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Diagnosis:
    kind: DiagnosisKind
    summary: str
    fix: str
    healthy: bool = False


# Outcomes that say "nothing of the target answered": what an isolation check wants.
_NOT_REACHED = {ErrorKind.DNS_FAILURE, ErrorKind.REFUSED, ErrorKind.UNREACHABLE}


def diagnose(spec: ProbeSpec, outcome: ProbeOutcome, context: NetworkContext) -> Diagnosis:
    return _Diagnoser(spec, outcome, context).run()


class _Diagnoser:
    def __init__(self, spec: ProbeSpec, outcome: ProbeOutcome, context: NetworkContext) -> None:
        self.spec, self.outcome, self.context = spec, outcome, context
        self.host = spec.target_host
        self.port = spec.target_port
        self.net = context.label
        self.ip = _target_ip(spec, outcome)
        self.preset = PRESETS.get(spec.preset or "")
        self.hostport = _hostport(self.host, self.port)
        self.detail = outcome.detail.rstrip(". ")  # embedded in sentences that add their own

    def run(self) -> Diagnosis:
        outcome, context = self.outcome, self.context
        if outcome.ok:
            if context.expect_reachable:
                return Diagnosis(DiagnosisKind.OK, outcome.detail, "", healthy=True)
            return self.not_isolated()
        if not context.expect_reachable:
            if outcome.error_kind in _NOT_REACHED or (
                outcome.error_kind is ErrorKind.TIMEOUT and outcome.phase in (Phase.RESOLVE, Phase.CONNECT)
            ):
                return Diagnosis(
                    DiagnosisKind.ISOLATED,
                    f"{self.spec.target} is not reachable from {self.net}, as required ({self.detail}).",
                    "",
                    healthy=True,
                )
            return self.not_isolated()
        if context.in_container and self.is_loopback():
            return self.loopback()
        match outcome.error_kind:
            case ErrorKind.DNS_FAILURE:
                return self.dns_failure()
            case ErrorKind.REFUSED:
                return self.refused()
            case ErrorKind.TIMEOUT | ErrorKind.UNREACHABLE:
                return self.no_answer()
            case ErrorKind.TLS_TO_PLAIN:
                return self.diagnosis(
                    DiagnosisKind.TLS_TO_PLAIN,
                    f"{self.detail}.",
                    f"Use {self.url('http')}: inside a Docker network services speak plain "
                    "HTTP, and TLS ends at the proxy in front (Traefik, nginx).",
                )
            case ErrorKind.PLAIN_TO_TLS:
                return self.diagnosis(
                    DiagnosisKind.PLAIN_TO_TLS,
                    f"{self.detail}.",
                    f"Use {self.url('https')}.",
                )
            case ErrorKind.TLS_ERROR:
                return self.tls_error()
            case ErrorKind.HTTP_STATUS:
                return self.http_status()
            case ErrorKind.KEYWORD_MISSING:
                return self.diagnosis(
                    DiagnosisKind.KEYWORD_MISSING,
                    f"{self.detail}.",
                    f"Another service may answer on port {self.port}, or the page changed: "
                    "check the port and the expected keyword.",
                )
            case ErrorKind.DB_NOT_CONNECTED:
                return self.diagnosis(
                    DiagnosisKind.DB_NOT_CONNECTED,
                    f"LiteLLM is up but not connected to its database: {self.detail}.",
                    "Check DATABASE_URL in LiteLLM's environment and that its container shares "
                    "a network with PostgreSQL; LiteLLM's log shows the database error. For a "
                    "deployment without a database, turn readiness_requires_db off.",
                )
            case ErrorKind.AUTH_FAILED:
                return self.auth_failed()
            case ErrorKind.SERVER_ERROR:
                return self.server_error()
            case ErrorKind.PROTOCOL_ERROR:
                kind_label = _KIND_LABELS[self.spec.kind.value]
                return self.diagnosis(
                    DiagnosisKind.PROTOCOL_ERROR,
                    f"{self.detail} (expected {kind_label}).",
                    f"Check the port: another service listens on {self.port} "
                    f"(e.g. a database port given for an HTTP check).",
                )
        return self.diagnosis(DiagnosisKind.UNKNOWN, f"{self.detail}.", "Unexpected failure: see the detail.")

    # -- classes ------------------------------------------------------------------------

    def not_isolated(self) -> Diagnosis:
        how = self.detail if self.outcome.ok else f"it answered: {self.detail}"
        return Diagnosis(
            DiagnosisKind.NOT_ISOLATED,
            f"{self.spec.target} is reachable from {self.net}, where it must not be ({how}): "
            "the networks are not isolated.",
            f"Take {self.host} off {self.net} (remove {self.net} from its compose `networks:` "
            f"list, or `docker network disconnect {self.net} <container>`) and keep dev and prod "
            "on separate user-defined bridge networks; Docker drops traffic between bridges "
            'only while its iptables rules are on ("iptables": false in daemon.json removes '
            "them).",
        )

    def loopback(self) -> Diagnosis:
        service = self.service_example()
        return self.diagnosis(
            DiagnosisKind.LOOPBACK_IN_CONTAINER,
            f"{self.host} in a container is the container itself, not the Docker host or "
            f"another service: {self.detail}.",
            f"Use the service name on {self.net} ({self.url(host=service)}) for a service in "
            f"Docker, or {self.url(host=HOST_GATEWAY_NAME)} for a service on the host.",
        )

    def dns_failure(self) -> Diagnosis:
        if self.host == HOST_GATEWAY_NAME:
            gateway = self.context.gateway
            instead = f", or use the gateway address {gateway} instead" if gateway else ""
            return self.diagnosis(
                DiagnosisKind.HOST_GATEWAY_UNRESOLVED,
                f"{HOST_GATEWAY_NAME} does not resolve in {self.net}: Docker Engine on Linux "
                "defines it only when asked.",
                'Add `extra_hosts: ["host.docker.internal:host-gateway"]` to this service in '
                f"the compose file (Docker 20.10 or later){instead}.",
            )
        if self.context.in_container:
            return self.diagnosis(
                DiagnosisKind.NAME_NOT_ON_NETWORK,
                f"{self.host} does not resolve from {self.net}: no container of that name is on {self.net}.",
                f"Put the {self.host} container on {self.net} (`docker network connect "
                f"{self.net} {self.host}`, or add {self.net} to its compose `networks:` list, "
                "marked `external: true` when another project created it), and check the "
                "spelling: Docker names resolve only inside the networks a container shares.",
            )
        return self.diagnosis(
            DiagnosisKind.NAME_UNRESOLVED,
            f"{self.host} does not resolve here ({self.detail}).",
            "Docker service names resolve only inside Docker networks: from the host use "
            "localhost and the published port, otherwise check the name and the DNS settings.",
        )

    def refused(self) -> Diagnosis:
        if not self.context.in_container and self.is_loopback():
            return self.diagnosis(
                DiagnosisKind.HOST_PORT_CLOSED,
                f"Nothing on this host listens on {self.hostport}: the worker runs on the host, "
                f"so {self.host} is the host itself.",
                f"Start the service, or use the port it listens on: `ss -ltnp | grep :{self.port}` "
                "on this host shows what listens there.",
            )
        if self.is_host_gateway():
            return self.diagnosis(
                DiagnosisKind.HOST_SERVICE_LOOPBACK_ONLY,
                f"{self.host} is the Docker host ({self.ip}), which refuses port {self.port} "
                "from containers: the host service listens on 127.0.0.1 only, or is not "
                "running.",
                "Make the host service listen on 0.0.0.0 or on the Docker bridge address "
                f"{self.context.gateway or ''} (Ollama: OLLAMA_HOST=0.0.0.0; LiteLLM: --host "
                f"0.0.0.0), then check it runs: `ss -ltnp | grep :{self.port}` on the host.",
            )
        if _ip(self.host) is None:
            container_port = ""
            if self.preset and self.preset.port != self.port:
                container_port = f" ({self.preset.label} listens on {self.preset.port})"
            return self.diagnosis(
                DiagnosisKind.SERVICE_DOWN_OR_WRONG_PORT,
                f"{self.host} resolves to {self.ip} but refuses port {self.port}: the service "
                "is down or listens on another port.",
                f"Check `docker compose ps` and the logs of {self.host}. Inside {self.net} use "
                f"the container's own port{container_port}, not a port published on the host: "
                '`ports: "8080:4000"` publishes 4000 as 8080 on the host only.',
            )
        if self.in_subnet():
            return self.diagnosis(
                DiagnosisKind.REFUSED,
                f"{self.ip} on {self.net} refuses port {self.port}: nothing listens there.",
                "Container addresses change when containers are recreated: use the service "
                "name, and the port the service listens on inside its container.",
            )
        return self.diagnosis(
            DiagnosisKind.REFUSED,
            f"{self.hostport} refuses connections: nothing listens on port {self.port}.",
            "Check the port number and that the service runs; use the service name where there is one.",
        )

    def no_answer(self) -> Diagnosis:
        outcome, phase = self.outcome, self.outcome.phase
        if phase is Phase.RESOLVE:
            return self.diagnosis(
                DiagnosisKind.DNS_TIMEOUT,
                f"The DNS server did not answer for {self.host} ({self.detail}).",
                "In a container, that is Docker's embedded DNS (127.0.0.11): check "
                "/etc/resolv.conf in the container and that the Docker daemon is healthy.",
            )
        if phase is Phase.TLS:
            return self.diagnosis(
                DiagnosisKind.TLS_NOT_ANSWERED,
                f"{self.hostport} accepts connections but not the TLS handshake ({self.detail}).",
                f"If the port serves plain HTTP use {self.url('http')}; otherwise the service "
                "is hung: see its logs.",
            )
        if phase in (Phase.ANSWER, Phase.CHECK):
            return self.diagnosis(
                DiagnosisKind.NO_ANSWER,
                f"{self.hostport} accepts connections but does not answer ({self.detail}).",
                "The service is hung, overloaded or still starting (LiteLLM migrates its "
                "database in its first ~60 s), or the port belongs to a service that waits "
                "for the client to speak first: see its logs and check the port.",
            )
        timeout = outcome.error_kind is ErrorKind.TIMEOUT
        if timeout and self.is_host_gateway(named_only=True):
            subnet = self.context.subnet or "the Docker networks"
            return self.diagnosis(
                DiagnosisKind.HOST_FIREWALL,
                f"The Docker host ({self.ip}) drops connections to port {self.port} from "
                f"{self.net} ({self.detail}).",
                f"A firewall on the host (ufw, firewalld, nftables) drops traffic from Docker "
                f"networks: allow {subnet} to port {self.port}, e.g. `ufw allow from {subnet} "
                f"to any port {self.port}`.",
            )
        if self.in_subnet() and self.ip != self.context.gateway:
            return self.diagnosis(
                DiagnosisKind.ADDRESS_NOT_IN_USE,
                f"Nobody answers for {self.ip} on {self.net} ({self.context.subnet}): {self.detail}.",
                "No container holds this address now (addresses change when containers are "
                f"recreated): use the service name instead of {self.ip}.",
            )
        if self.context.in_container and _is_lan(self.ip):
            where = (
                f"outside {self.net} ({self.context.subnet})"
                if self.context.subnet
                else (f"not on {self.net}")
            )
            return self.diagnosis(
                DiagnosisKind.LAN_ADDRESS_FROM_CONTAINER,
                f"{self.ip} is {where} and does not answer from the container ({self.detail}).",
                f"For a service on the Docker host use {self.url(host=HOST_GATEWAY_NAME)} "
                "(with extra_hosts host-gateway on Linux); for a service in Docker use its "
                "service name. A host's LAN address is often unreachable from its own "
                "containers (firewall, no hairpin routing).",
            )
        if timeout:
            return self.diagnosis(
                DiagnosisKind.CONNECT_TIMEOUT,
                f"Packets to {self.hostport} get no answer: {self.detail}.",
                "A firewall drops them, the address is wrong, or the target is on a network "
                f"{self.net} cannot reach: check the address, or use the service name.",
            )
        return self.diagnosis(
            DiagnosisKind.NO_ROUTE,
            f"There is no route from {self.net} to {self.hostport}: {self.detail}.",
            f"The address is on a network this container is not attached to: attach it "
            f"(`docker network connect`), or use an address on {self.net}.",
        )

    def tls_error(self) -> Diagnosis:
        detail = self.detail
        lowered = detail.lower()
        if "expired" in lowered:
            fix = f"Renew the certificate of {self.host} (certbot, Traefik's ACME resolver)."
        elif "hostname mismatch" in lowered or "doesn't match" in lowered:
            fix = f"The certificate does not name {self.host}: use the name it was issued for."
        elif "self-signed" in lowered or "self signed" in lowered or "issuer" in lowered:
            fix = (
                "Give the probe the CA that signed it (ca_file), or inside the Docker network "
                f"call the service by name over plain HTTP ({self.url('http')})."
            )
        else:
            fix = "Check the certificate and TLS settings of the server; the detail names it."
        return self.diagnosis(DiagnosisKind.TLS_ERROR, f"{detail}.", fix)

    def http_status(self) -> Diagnosis:
        status = self.outcome.http_status or 0
        target = self.spec.target
        if status == 404:
            return self.diagnosis(
                DiagnosisKind.WRONG_PATH,
                f"{self.hostport} answers, but {self.spec.path} is not there (HTTP 404).",
                self.health_path_hint(),
            )
        if status in (401, 403):
            seen = f"{self.outcome.http_server or ''} {self.outcome.body_excerpt}".lower()
            if any(mark in seen for mark in _PROXY_MARKS):
                name = "Cloudflare" if "cloudflare" in seen or "cf-ray" in seen else "A CDN"
                return self.diagnosis(
                    DiagnosisKind.BLOCKED_BY_PROXY,
                    f"{name} answered HTTP {status} for {target}: the call goes out through "
                    "the public address and the CDN blocks it.",
                    "Route internal calls inside the Docker network instead of the public URL, "
                    f"e.g. {self.internal_url()}.",
                )
            return self.diagnosis(
                DiagnosisKind.UNAUTHORIZED,
                f"{target} is reachable but refuses the request (HTTP {status}).",
                "Either the path needs credentials (LiteLLM's /health needs the master key, "
                "/health/liveliness does not) or a proxy in front (Traefik basic-auth or "
                "forward-auth, a CDN) answers instead of the service: use a health path that "
                "needs no key, or call the service by name inside the network.",
            )
        if status >= 500:
            return self.diagnosis(
                DiagnosisKind.SERVICE_FAILING,
                f"{target} is reachable but failing (HTTP {status}).",
                "See the service's logs. A 502, 503 or 504 from a proxy means the proxy cannot "
                "reach its upstream: probe the upstream directly.",
            )
        expected = ", ".join(map(str, self.spec.expected_status)) or "2xx or 3xx"
        return self.diagnosis(
            DiagnosisKind.UNEXPECTED_STATUS,
            f"{target} answered HTTP {status}, expected {expected}.",
            "Check the path and the expected status of this check.",
        )

    def auth_failed(self) -> Diagnosis:
        detail = self.detail
        if self.spec.kind.value == "redis":
            fix = (
                "Use the password of Redis's requirepass (or the ACL user) in REDIS_URL, e.g. "
                f"redis://:<password>@{self.hostport}/0; NOAUTH means none was sent."
            )
        else:
            fix = (
                f"Check the user and password for {self.hostport}: POSTGRES_PASSWORD applies "
                "only when the data volume is first created, so changing it later does not "
                f"change the password; and pg_hba.conf must admit {self.net}'s addresses."
            )
        return self.diagnosis(DiagnosisKind.AUTH_FAILED, f"{detail}.", fix)

    def server_error(self) -> Diagnosis:
        if self.spec.kind.value == "redis":
            fix = "LOADING passes once the dataset is loaded; MISCONF: Redis cannot save to disk."
        else:
            fix = (
                "The server runs and answered: act on its message (create a missing database "
                "with createdb; 'starting up' passes by itself)."
            )
        return self.diagnosis(DiagnosisKind.SERVER_ERROR, f"{self.detail}.", fix)

    # -- facts --------------------------------------------------------------------------

    def diagnosis(self, kind: DiagnosisKind, summary: str, fix: str) -> Diagnosis:
        return Diagnosis(kind, summary, fix)

    def is_loopback(self) -> bool:
        if self.host.lower() in _LOOPBACK_NAMES:
            return True
        addresses = [_ip(a) for a in (self.host, *self.outcome.resolved_addresses)]
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
        address = _ip(self.ip or "")
        subnet = self.context.subnet
        return address is not None and subnet is not None and address in subnet

    def service_example(self) -> str:
        if self.preset and self.preset.service_names:
            return self.preset.service_names[0]
        return "<service>"

    def url(self, scheme: str | None = None, *, host: str | None = None) -> str:
        """The target with another scheme or host: the address to try instead."""
        spec = self.spec
        if host is not None:
            spec = spec.with_host(host)
        if spec.kind.value != "http":
            return _hostport(spec.target_host, spec.target_port)
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


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# Private LAN ranges (RFC 1918, and IPv6 unique-local): where a Docker host's own LAN
# address lives. Not ipaddress's is_private, which also counts documentation ranges.
_LAN_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _is_lan(text: str | None) -> bool:
    address = _ip(text or "")
    return address is not None and any(address in n for n in _LAN_NETWORKS)


def _target_ip(spec: ProbeSpec, outcome: ProbeOutcome) -> str | None:
    if _ip(spec.target_host) is not None:
        return spec.target_host
    if outcome.connected_address:
        return outcome.connected_address
    return outcome.resolved_addresses[0] if outcome.resolved_addresses else None


def _hostport(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host
