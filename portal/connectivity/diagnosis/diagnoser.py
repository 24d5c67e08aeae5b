"""`diagnose`: the classes of "it was not reached" (name, connect, route, loopback, isolation),
and the dispatch to the classes of a service that answered wrongly (`answers`)."""

from __future__ import annotations

from portal.connectivity.diagnosis.answers import AnswerDiagnoses
from portal.connectivity.diagnosis.base import KIND_LABELS
from portal.connectivity.diagnosis.context import HOST_GATEWAY_NAME, NetworkContext, ip, is_lan
from portal.connectivity.diagnosis.kinds import Diagnosis, DiagnosisKind
from portal.connectivity.probes import ErrorKind, Phase, ProbeOutcome, ProbeSpec

# Outcomes that say "nothing of the target answered": what an isolation check wants.
_NOT_REACHED = {ErrorKind.DNS_FAILURE, ErrorKind.REFUSED, ErrorKind.UNREACHABLE}


def diagnose(spec: ProbeSpec, outcome: ProbeOutcome, context: NetworkContext) -> Diagnosis:
    return Diagnoser(spec, outcome, context).run()


class Diagnoser(AnswerDiagnoses):
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
                kind_label = KIND_LABELS[self.spec.kind.value]
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
        if ip(self.host) is None:
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
        other = self.context.network_holding(self.ip)
        if other is not None:
            return self.other_network(other.name)
        if self.in_subnet() and self.ip != self.context.gateway and ip(self.host) is None:
            return self.dead_name()
        if self.in_subnet() and self.ip != self.context.gateway:
            return self.diagnosis(
                DiagnosisKind.ADDRESS_NOT_IN_USE,
                f"Nobody answers for {self.ip} on {self.net} ({self.context.subnet}): {self.detail}.",
                "No container holds this address now (addresses change when containers are "
                f"recreated): use the service name instead of {self.ip}.",
            )
        if self.context.in_container and is_lan(self.ip) and not self.context.in_a_known_subnet(self.ip):
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

    def other_network(self, other: str) -> Diagnosis:
        holder = self.holder()
        who = f"{self.ip} ({holder})" if holder and holder != self.host else self.ip
        via = f"{self.host} resolves to {who}, which" if ip(self.host) is None else f"{who}"
        return self.diagnosis(
            DiagnosisKind.OTHER_NETWORK_ADDRESS,
            f"That address is on {other}: {via} lies in {other}'s subnet, and Docker drops "
            f"traffic from {self.net} to another network ({self.detail}).",
            f"Join the network: add {other} to this service's compose `networks:` list (marked "
            f"`external: true` when another project created it) or `docker network connect "
            f"{other} <container>`; or use an address on {self.net}. If {self.net} must stay "
            f"apart from {other}, the target belongs on {other}'s checks instead.",
        )

    def dead_name(self) -> Diagnosis:
        source = (
            "the hosts file of the worker names it (compose `extra_hosts`, or a file mounted over /etc/hosts)"
            if self.host.lower() in self.context.hosts_file
            else "a DNS record or hosts entry gives it"
        )
        return self.diagnosis(
            DiagnosisKind.DEAD_NAME,
            f"This name points at an address nobody holds: {self.host} resolves to {self.ip} on "
            f"{self.net} ({self.context.subnet}), and nothing answers there ({self.detail}).",
            f"A stale entry or a stopped container: {source}. Start the container that should "
            f"hold {self.ip} (`docker compose ps`), or correct the entry; Docker's own service "
            "names follow a container's address, fixed addresses and extra_hosts do not.",
        )
