from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

import pytest

from portal.connectivity.diagnosis import Diagnosis, DiagnosisKind, KnownNetwork, NetworkContext, diagnose
from portal.connectivity.probes import ErrorKind, Phase, ProbeOutcome, ProbeSpec, spec_from_preset

DEV = NetworkContext(
    network="backend-dev",
    subnet=ipaddress.ip_network("10.201.0.0/24"),
    gateway="10.201.0.1",
    in_container=True,
    host_addresses=("192.168.1.131",),
)
HOST = NetworkContext(in_container=False)


def http(url: str, **options: Any) -> ProbeSpec:
    return ProbeSpec.from_url(url, **options)


def failed(spec: ProbeSpec, kind: ErrorKind, phase: Phase, detail: str, **facts: Any) -> ProbeOutcome:
    return ProbeOutcome(
        ok=False,
        target=spec.target,
        latency_ms=3.0,
        error_kind=kind,
        phase=phase,
        detail=detail,
        **facts,
    )


@dataclass(frozen=True)
class Case:
    spec: ProbeSpec
    outcome: ProbeOutcome
    expected: DiagnosisKind
    phrases: tuple[str, ...]  # each must appear in the summary or the fix
    context: NetworkContext = DEV


LITELLM_LAN = http("http://192.168.1.131:4000/health/liveliness")
LITELLM = spec_from_preset("litellm_liveliness", "litellm")
OLLAMA_HOST = spec_from_preset("ollama_tags", "host.docker.internal")
LIBRECHAT = spec_from_preset("librechat_health", "librechat-api")
PG = ProbeSpec(kind="postgres", host="postgres", username="portal", password="x")  # type: ignore[arg-type]
REDIS = ProbeSpec(kind="redis", host="redis", password="x")  # type: ignore[arg-type]

CASES = {
    "localhost in a container": Case(
        spec_from_preset("litellm_liveliness", "localhost"),
        failed(
            spec_from_preset("litellm_liveliness", "localhost"),
            ErrorKind.REFUSED,
            Phase.CONNECT,
            "Connection refused by localhost:4000 (127.0.0.1)",
            resolved_addresses=("127.0.0.1",),
        ),
        DiagnosisKind.LOOPBACK_IN_CONTAINER,
        ("the container itself", "http://litellm:4000", "http://host.docker.internal:4000"),
    ),
    "127.0.0.1 on the host": Case(
        spec_from_preset("litellm_liveliness", "127.0.0.1"),
        failed(
            spec_from_preset("litellm_liveliness", "127.0.0.1"),
            ErrorKind.REFUSED,
            Phase.CONNECT,
            "Connection refused by 127.0.0.1:4000",
        ),
        DiagnosisKind.HOST_PORT_CLOSED,
        ("Nothing on this host listens on 127.0.0.1:4000", "ss -ltnp | grep :4000"),
        context=HOST,
    ),
    "host.docker.internal missing": Case(
        OLLAMA_HOST,
        failed(
            OLLAMA_HOST,
            ErrorKind.DNS_FAILURE,
            Phase.RESOLVE,
            "The name host.docker.internal does not resolve (Name or service not known)",
        ),
        DiagnosisKind.HOST_GATEWAY_UNRESOLVED,
        ('extra_hosts: ["host.docker.internal:host-gateway"]', "10.201.0.1"),
    ),
    "host service on 127.0.0.1 only": Case(
        OLLAMA_HOST,
        failed(
            OLLAMA_HOST,
            ErrorKind.REFUSED,
            Phase.CONNECT,
            "Connection refused by host.docker.internal:11434 (10.201.0.1)",
            resolved_addresses=("10.201.0.1",),
        ),
        DiagnosisKind.HOST_SERVICE_LOOPBACK_ONLY,
        ("listens on 127.0.0.1 only", "OLLAMA_HOST=0.0.0.0", "10.201.0.1"),
    ),
    "LAN address timing out from a container": Case(
        LITELLM_LAN,
        failed(
            LITELLM_LAN,
            ErrorKind.TIMEOUT,
            Phase.CONNECT,
            "Connection timed out after 3.0 s to 192.168.1.131:4000",
        ),
        DiagnosisKind.LAN_ADDRESS_FROM_CONTAINER,
        (
            "outside backend-dev (10.201.0.0/24)",
            "http://host.docker.internal:4000/health/liveliness",
        ),
    ),
    "name on another network": Case(
        LITELLM,
        failed(LITELLM, ErrorKind.DNS_FAILURE, Phase.RESOLVE, "The name litellm does not resolve"),
        DiagnosisKind.NAME_NOT_ON_NETWORK,
        (
            "no container of that name is on backend-dev",
            "docker network connect backend-dev litellm",
            "`networks:`",
        ),
    ),
    "name not resolving on the host": Case(
        LITELLM,
        failed(LITELLM, ErrorKind.DNS_FAILURE, Phase.RESOLVE, "The name litellm does not resolve"),
        DiagnosisKind.NAME_UNRESOLVED,
        ("resolve only inside Docker networks", "published port"),
        HOST,
    ),
    "DNS server silent": Case(
        LITELLM,
        failed(LITELLM, ErrorKind.TIMEOUT, Phase.RESOLVE, "Name resolution of litellm got no answer"),
        DiagnosisKind.DNS_TIMEOUT,
        ("DNS server did not answer", "127.0.0.11"),
    ),
    "service name refusing": Case(
        http("http://litellm:8080/health/liveliness", preset="litellm_liveliness"),
        failed(
            http("http://litellm:8080/health/liveliness"),
            ErrorKind.REFUSED,
            Phase.CONNECT,
            "Connection refused by litellm:8080 (10.201.0.7)",
            resolved_addresses=("10.201.0.7",),
        ),
        DiagnosisKind.SERVICE_DOWN_OR_WRONG_PORT,
        ("down or listens on another port", "LiteLLM listens on 4000", "published on the host"),
    ),
    "address refusing": Case(
        http("http://203.0.113.9:4000/health"),
        failed(
            http("http://203.0.113.9:4000/health"),
            ErrorKind.REFUSED,
            Phase.CONNECT,
            "Connection refused by 203.0.113.9:4000",
        ),
        DiagnosisKind.REFUSED,
        ("nothing listens on port 4000",),
    ),
    "an address on another Docker network": Case(
        http("http://10.202.0.7:4000/health/liveliness"),
        failed(
            http("http://10.202.0.7:4000/health/liveliness"),
            ErrorKind.TIMEOUT,
            Phase.CONNECT,
            "Connection timed out after 3.0 s to 10.202.0.7:4000",
        ),
        DiagnosisKind.OTHER_NETWORK_ADDRESS,
        (
            "That address is on backend-prod",
            "10.202.0.7 (litellm-prod)",
            "Join the network",
            "docker network connect backend-prod",
        ),
        replace(
            DEV,
            others=(
                KnownNetwork(
                    "backend-prod", (ipaddress.ip_network("10.202.0.0/24"),), {"10.202.0.7": "litellm-prod"}
                ),
            ),
        ),
    ),
    "a name that points at an address nobody holds": Case(
        http("http://litellm-old:4000/health/liveliness"),
        failed(
            http("http://litellm-old:4000/health/liveliness"),
            ErrorKind.UNREACHABLE,
            Phase.CONNECT,
            "No route to litellm-old:4000 (10.201.0.99) (No route to host)",
            resolved_addresses=("10.201.0.99",),
        ),
        DiagnosisKind.DEAD_NAME,
        (
            "This name points at an address nobody holds: litellm-old resolves to 10.201.0.99",
            "the hosts file of the worker names it",
            "stopped container",
        ),
        replace(DEV, hosts_file={"litellm-old": ("10.201.0.99",)}),
    ),
    "address nobody holds in the subnet": Case(
        http("http://10.201.0.99:4000/health"),
        failed(
            http("http://10.201.0.99:4000/health"),
            ErrorKind.UNREACHABLE,
            Phase.CONNECT,
            "No route to 10.201.0.99:4000 (No route to host)",
        ),
        DiagnosisKind.ADDRESS_NOT_IN_USE,
        ("Nobody answers for 10.201.0.99 on backend-dev", "use the service name"),
    ),
    "host firewall on the gateway": Case(
        http("http://10.201.0.1:11434/api/tags"),
        failed(
            http("http://10.201.0.1:11434/api/tags"),
            ErrorKind.TIMEOUT,
            Phase.CONNECT,
            "Connection timed out after 3.0 s to 10.201.0.1:11434",
        ),
        DiagnosisKind.HOST_FIREWALL,
        ("drops connections to port 11434", "ufw allow from 10.201.0.0/24"),
    ),
    "public address timing out": Case(
        http("http://203.0.113.9:4000/health"),
        failed(
            http("http://203.0.113.9:4000/health"),
            ErrorKind.TIMEOUT,
            Phase.CONNECT,
            "Connection timed out after 3.0 s to 203.0.113.9:4000",
        ),
        DiagnosisKind.CONNECT_TIMEOUT,
        ("get no answer", "Connection timed out after 3.0 s to 203.0.113.9:4000"),
    ),
    "no route": Case(
        http("http://203.0.113.9:4000/health"),
        failed(
            http("http://203.0.113.9:4000/health"),
            ErrorKind.UNREACHABLE,
            Phase.CONNECT,
            "No route to 203.0.113.9:4000 (Network is unreachable)",
        ),
        DiagnosisKind.NO_ROUTE,
        ("no route from backend-dev",),
    ),
    "connected but silent": Case(
        LITELLM,
        failed(
            LITELLM,
            ErrorKind.TIMEOUT,
            Phase.ANSWER,
            "litellm:4000 (10.201.0.7) accepted the connection but sent no answer within 3.0 s",
            connected_address="10.201.0.7",
        ),
        DiagnosisKind.NO_ANSWER,
        ("accepts connections but does not answer", "first ~60 s"),
    ),
    "TLS handshake never answered": Case(
        http("https://litellm:4000/health/liveliness"),
        failed(
            http("https://litellm:4000/health/liveliness"),
            ErrorKind.TIMEOUT,
            Phase.TLS,
            "TLS handshake with litellm:4000 got no answer within 3.0 s",
        ),
        DiagnosisKind.TLS_NOT_ANSWERED,
        ("http://litellm:4000/health/liveliness",),
    ),
    "TLS to a plain port": Case(
        http("https://litellm:4000/health/liveliness"),
        failed(
            http("https://litellm:4000/health/liveliness"),
            ErrorKind.TLS_TO_PLAIN,
            Phase.TLS,
            "litellm:4000 answers plain HTTP (HTTP 400), not TLS",
        ),
        DiagnosisKind.TLS_TO_PLAIN,
        ("answers plain HTTP", "Use http://litellm:4000/health/liveliness"),
    ),
    "plain HTTP to a TLS port": Case(
        http("http://llm.example.org:443/health/liveliness"),
        failed(
            http("http://llm.example.org:443/health/liveliness"),
            ErrorKind.PLAIN_TO_TLS,
            Phase.ANSWER,
            "llm.example.org:443 answered HTTP 400 to plain HTTP",
        ),
        DiagnosisKind.PLAIN_TO_TLS,
        ("answered HTTP 400 to plain HTTP", "Use https://llm.example.org:443/health/liveliness"),
    ),
    "expired certificate": Case(
        http("https://llm.example.org/health"),
        failed(
            http("https://llm.example.org/health"),
            ErrorKind.TLS_ERROR,
            Phase.TLS,
            "The TLS certificate of llm.example.org:443 was not accepted: certificate has expired",
        ),
        DiagnosisKind.TLS_ERROR,
        ("certificate has expired", "Renew"),
    ),
    "LiteLLM health path wrong": Case(
        http("http://litellm:4000/api/health", preset="litellm_liveliness"),
        failed(
            http("http://litellm:4000/api/health"),
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 404 Not Found from http://litellm:4000/api/health",
            http_status=404,
        ),
        DiagnosisKind.WRONG_PATH,
        ("/api/health is not there (HTTP 404)", "/health/liveliness"),
    ),
    "LibreChat health path wrong": Case(
        http("http://librechat-api:3080/api/health", preset="librechat_health"),
        failed(
            http("http://librechat-api:3080/api/health"),
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 404 Not Found from http://librechat-api:3080/api/health",
            http_status=404,
        ),
        DiagnosisKind.WRONG_PATH,
        ("LibreChat's health path is /health (there is no /api/health)",),
    ),
    "Cloudflare 403": Case(
        http("https://llm.example.org/v1/models", preset="litellm_liveliness"),
        failed(
            http("https://llm.example.org/v1/models"),
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 403 Forbidden from https://llm.example.org/v1/models",
            http_status=403,
            http_server="cloudflare",
            body_excerpt="Attention Required! | Cloudflare",
        ),
        DiagnosisKind.BLOCKED_BY_PROXY,
        (
            "Cloudflare answered HTTP 403",
            "inside the Docker network",
            "http://litellm:4000/v1/models",
        ),
    ),
    "401 without a proxy": Case(
        http("http://litellm:4000/health"),
        failed(
            http("http://litellm:4000/health"),
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 401 Unauthorized from http://litellm:4000/health",
            http_status=401,
        ),
        DiagnosisKind.UNAUTHORIZED,
        ("reachable but refuses the request (HTTP 401)", "master key", "proxy"),
    ),
    "5xx": Case(
        LIBRECHAT,
        failed(
            LIBRECHAT,
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 503 Service Unavailable from http://librechat-api:3080/health",
            http_status=503,
        ),
        DiagnosisKind.SERVICE_FAILING,
        ("reachable but failing (HTTP 503)", "logs"),
    ),
    "unexpected status": Case(
        http("http://litellm:4000/health", expected_status=(200,)),
        failed(
            http("http://litellm:4000/health"),
            ErrorKind.HTTP_STATUS,
            Phase.CHECK,
            "HTTP 302 Found from http://litellm:4000/health",
            http_status=302,
        ),
        DiagnosisKind.UNEXPECTED_STATUS,
        ("answered HTTP 302, expected 200",),
    ),
    "keyword missing": Case(
        LIBRECHAT,
        failed(
            LIBRECHAT,
            ErrorKind.KEYWORD_MISSING,
            Phase.CHECK,
            "http://librechat-api:3080/health answered HTTP 200 but the body does not contain 'OK'",
        ),
        DiagnosisKind.KEYWORD_MISSING,
        ("does not contain 'OK'", "Another service"),
    ),
    "LiteLLM without its database": Case(
        spec_from_preset("litellm_readiness", "litellm"),
        failed(
            spec_from_preset("litellm_readiness", "litellm"),
            ErrorKind.DB_NOT_CONNECTED,
            Phase.CHECK,
            'http://litellm:4000/health/readiness answered HTTP 200 but its database is "Not connected"',
        ),
        DiagnosisKind.DB_NOT_CONNECTED,
        ("not connected to its database", "DATABASE_URL"),
    ),
    "PostgreSQL refusing the login": Case(
        PG,
        failed(
            PG,
            ErrorKind.AUTH_FAILED,
            Phase.CONNECT,
            "PostgreSQL at postgres:5432 (10.201.0.5) refused the login: "
            'password authentication failed for user "portal"',
        ),
        DiagnosisKind.AUTH_FAILED,
        ('password authentication failed for user "portal"', "POSTGRES_PASSWORD", "pg_hba.conf"),
    ),
    "Redis refusing the password": Case(
        REDIS,
        failed(
            REDIS,
            ErrorKind.AUTH_FAILED,
            Phase.CONNECT,
            "Redis at redis:6379 (10.201.0.6) refused the credentials: invalid username-password pair",
        ),
        DiagnosisKind.AUTH_FAILED,
        ("invalid username-password pair", "requirepass", "REDIS_URL"),
    ),
    "PostgreSQL database missing": Case(
        PG,
        failed(
            PG,
            ErrorKind.SERVER_ERROR,
            Phase.CONNECT,
            'PostgreSQL at postgres:5432: database "portal" does not exist',
        ),
        DiagnosisKind.SERVER_ERROR,
        ('database "portal" does not exist', "createdb"),
    ),
    "wrong protocol on the port": Case(
        PG,
        failed(
            PG,
            ErrorKind.PROTOCOL_ERROR,
            Phase.CONNECT,
            "postgres:5432 did not answer as PostgreSQL: received invalid response to SSL negotiation: H",
        ),
        DiagnosisKind.PROTOCOL_ERROR,
        ("(expected PostgreSQL)", "another service listens on 5432"),
    ),
    "something unexpected": Case(
        LITELLM,
        failed(LITELLM, ErrorKind.OTHER, Phase.CONNECT, "OSError: [Errno 24] Too many open files"),
        DiagnosisKind.UNKNOWN,
        ("Too many open files",),
    ),
}


def diagnosis_of(case: Case) -> Diagnosis:
    return diagnose(case.spec, case.outcome, case.context)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_it_gives_each_failure_a_class_a_sentence_and_a_fix(case: Case) -> None:
    diagnosis = diagnosis_of(case)

    assert diagnosis.kind is case.expected, diagnosis
    assert not diagnosis.healthy
    assert diagnosis.summary.endswith((".", ")")) and diagnosis.fix
    for phrase in case.phrases:
        assert phrase in diagnosis.summary + " " + diagnosis.fix, (phrase, diagnosis)


def test_it_covers_every_failure_class() -> None:
    covered = {case.expected for case in CASES.values()}
    healthy_or_isolation = {
        DiagnosisKind.OK,
        DiagnosisKind.ISOLATED,
        DiagnosisKind.NOT_ISOLATED,
    }

    assert covered | healthy_or_isolation == set(DiagnosisKind)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_it_explains_every_spelling_of_loopback_in_a_container(host: str) -> None:
    spec = spec_from_preset("litellm_liveliness", host)
    outcome = failed(spec, ErrorKind.REFUSED, Phase.CONNECT, "Connection refused")

    assert diagnose(spec, outcome, DEV).kind is DiagnosisKind.LOOPBACK_IN_CONTAINER


def test_it_speaks_of_the_host_for_loopback_outside_a_container() -> None:
    spec = spec_from_preset("litellm_liveliness", "127.0.0.1")
    outcome = failed(spec, ErrorKind.REFUSED, Phase.CONNECT, "Connection refused by 127.0.0.1:4000")

    diagnosis = diagnose(spec, outcome, HOST)
    assert diagnosis.kind is DiagnosisKind.HOST_PORT_CLOSED
    assert "container" not in diagnosis.summary + diagnosis.fix


def test_it_treats_a_refusal_on_a_listed_host_address_as_a_host_service() -> None:
    outcome = failed(LITELLM_LAN, ErrorKind.REFUSED, Phase.CONNECT, "Connection refused")

    assert diagnose(LITELLM_LAN, outcome, DEV).kind is DiagnosisKind.HOST_SERVICE_LOOPBACK_ONLY


def test_it_calls_a_healthy_outcome_ok() -> None:
    outcome = ProbeOutcome(ok=True, target=LITELLM.target, latency_ms=2.0, detail="HTTP 200")

    diagnosis = diagnose(LITELLM, outcome, DEV)

    assert (diagnosis.kind, diagnosis.healthy, diagnosis.fix) == (DiagnosisKind.OK, True, "")


def test_it_says_the_networks_are_not_isolated_when_a_forbidden_target_answers() -> None:
    outcome = ProbeOutcome(ok=True, target=LITELLM.target, latency_ms=2.0, detail="HTTP 200")
    prod = replace(DEV, network="backend-prod", expect_reachable=False)

    diagnosis = diagnose(LITELLM, outcome, prod)

    assert diagnosis.kind is DiagnosisKind.NOT_ISOLATED and not diagnosis.healthy
    assert "the networks are not isolated" in diagnosis.summary
    assert "docker network disconnect backend-prod" in diagnosis.fix


def test_it_counts_any_http_answer_from_a_forbidden_target_as_a_breach() -> None:
    outcome = failed(LITELLM, ErrorKind.HTTP_STATUS, Phase.CHECK, "HTTP 404", http_status=404)
    prod = replace(DEV, network="backend-prod", expect_reachable=False)

    assert diagnose(LITELLM, outcome, prod).kind is DiagnosisKind.NOT_ISOLATED


@pytest.mark.parametrize(
    ("kind", "phase"),
    [
        (ErrorKind.DNS_FAILURE, Phase.RESOLVE),
        (ErrorKind.TIMEOUT, Phase.CONNECT),
        (ErrorKind.UNREACHABLE, Phase.CONNECT),
        (ErrorKind.REFUSED, Phase.CONNECT),
    ],
)
def test_it_calls_an_unreachable_forbidden_target_isolated(kind: ErrorKind, phase: Phase) -> None:
    outcome = failed(LITELLM, kind, phase, "no")
    prod = replace(DEV, network="backend-prod", expect_reachable=False)

    diagnosis = diagnose(LITELLM, outcome, prod)

    assert (diagnosis.kind, diagnosis.healthy) == (DiagnosisKind.ISOLATED, True)
