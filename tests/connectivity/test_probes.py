from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from portal.connectivity.probes import (
    PRESETS,
    ErrorKind,
    Phase,
    ProbeKind,
    ProbeOutcome,
    ProbeSpec,
    run_probe,
    spec_from_preset,
)
from tests.connectivity.conftest import PrivateRedis, SelfSignedCert
from tests.lab_server import LabHTTPServer

StartServer = Callable[..., LabHTTPServer]


def http_spec(port: int, path: str = "/health", scheme: str = "http", **options: object) -> ProbeSpec:
    options.setdefault("timeout", 2.0)
    return ProbeSpec(kind=ProbeKind.HTTP, url=f"{scheme}://127.0.0.1:{port}{path}", **options)  # type: ignore[arg-type]


# -- HTTP ---------------------------------------------------------------------------------


def test_it_reports_a_healthy_http_service(http_server: StartServer) -> None:
    server = http_server({"/health": (200, "OK")})

    outcome = run_probe(http_spec(server.port, keyword="OK"))

    assert outcome.ok, outcome.detail
    assert outcome.http_status == 200
    assert outcome.error_kind is None and outcome.phase is None
    assert outcome.resolved_addresses == ("127.0.0.1",)
    assert outcome.connected_address == "127.0.0.1"
    assert set(outcome.timings_ms) >= {"resolve_ms", "connect_ms", "first_byte_ms"}
    assert 0 < outcome.latency_ms < 1000
    assert outcome.detail.startswith(f"HTTP 200 from http://127.0.0.1:{server.port}/health")


def test_it_tells_a_refused_port(refused_port: int) -> None:
    outcome = run_probe(http_spec(refused_port))

    assert not outcome.ok
    assert outcome.error_kind is ErrorKind.REFUSED
    assert outcome.phase is Phase.CONNECT
    assert outcome.detail == f"Connection refused by 127.0.0.1:{refused_port}"


def test_it_tells_a_listener_that_never_answers_as_a_timeout(silent_port: int) -> None:
    outcome = run_probe(http_spec(silent_port, timeout=0.5))

    assert outcome.error_kind is ErrorKind.TIMEOUT
    assert outcome.phase is Phase.ANSWER  # connected: the service is there but silent
    assert outcome.connected_address == "127.0.0.1"
    assert "accepted the connection but sent no answer within 0.5 s" in outcome.detail
    assert 450 <= outcome.latency_ms < 1500


@pytest.mark.parametrize("status", [404, 401, 403, 500, 503])
def test_it_reports_an_unexpected_status_with_the_start_of_the_body(
    http_server: StartServer, status: int
) -> None:
    server = http_server({"/health": (status, f"failure body {status}")})

    outcome = run_probe(http_spec(server.port))

    assert outcome.error_kind is ErrorKind.HTTP_STATUS
    assert outcome.http_status == status
    assert outcome.body_excerpt == f"failure body {status}"
    assert f"HTTP {status}" in outcome.detail


def test_it_keeps_the_server_header_that_names_a_cdn(http_server: StartServer) -> None:
    server = http_server({"/v1/models": (403, "Attention Required!", {"Server": "cloudflare"})})

    outcome = run_probe(http_spec(server.port, "/v1/models"))

    assert outcome.http_status == 403
    assert outcome.http_server == "cloudflare"


def test_it_counts_an_expected_status_as_healthy(http_server: StartServer) -> None:
    server = http_server({"/v1/models": (401, "no key")})

    assert run_probe(http_spec(server.port, "/v1/models", expected_status=(401,))).ok
    assert not run_probe(http_spec(server.port, "/v1/models")).ok


def test_it_counts_a_redirect_as_healthy_without_following_it(http_server: StartServer) -> None:
    server = http_server({"/": (302, "", {"Location": "/login"})})

    outcome = run_probe(http_spec(server.port, "/"))

    assert outcome.ok and outcome.http_status == 302


def test_it_reports_a_missing_keyword(http_server: StartServer) -> None:
    server = http_server({"/health": (200, "<html>Welcome to nginx!</html>")})

    outcome = run_probe(http_spec(server.port, keyword="OK"))

    assert outcome.error_kind is ErrorKind.KEYWORD_MISSING
    assert "does not contain 'OK'" in outcome.detail
    assert "Welcome to nginx" in outcome.body_excerpt


@pytest.mark.parametrize(
    ("db", "requires_db", "ok"),
    [("connected", True, True), ("Not connected", True, False), ("Not connected", False, True)],
)
def test_it_counts_litellm_readiness_healthy_only_with_its_database_connected(
    http_server: StartServer, db: str, requires_db: bool, ok: bool
) -> None:
    body = json.dumps({"status": "healthy", "db": db, "litellm_version": "1.106.2"})
    server = http_server({"/health/readiness": (200, body)})
    spec = spec_from_preset(
        "litellm_readiness", "127.0.0.1", port=server.port, readiness_requires_db=requires_db
    )

    outcome = run_probe(spec)

    assert outcome.ok is ok
    if not ok:
        assert outcome.error_kind is ErrorKind.DB_NOT_CONNECTED
        assert 'its database is "Not connected"' in outcome.detail


def test_it_passes_the_presets_on_their_real_answers(http_server: StartServer) -> None:
    server = http_server(
        {
            "/health/liveliness": (200, '"I\'m alive!"'),
            "/health": (200, "OK"),
            "/api/tags": (200, '{"models":[]}'),
        }
    )
    for name in ("litellm_liveliness", "librechat_health", "ollama_tags"):
        outcome = run_probe(spec_from_preset(name, "127.0.0.1", port=server.port))
        assert outcome.ok, (name, outcome.detail)


def test_it_builds_preset_urls_on_the_services_own_ports() -> None:
    assert spec_from_preset("litellm_liveliness", "litellm").url == ("http://litellm:4000/health/liveliness")
    assert spec_from_preset("librechat_health", "librechat-api").url == ("http://librechat-api:3080/health")
    assert spec_from_preset("ollama_tags", "host.docker.internal").url == (
        "http://host.docker.internal:11434/api/tags"
    )
    assert spec_from_preset("litellm_readiness", "litellm").readiness_requires_db
    postgres = spec_from_preset("postgres", "postgres", username="portal", password="pw")
    assert (postgres.kind, postgres.target_port, postgres.preset) == ("postgres", 5432, "postgres")
    assert PRESETS["redis"].port == 6379


# -- TLS ----------------------------------------------------------------------------------


def test_it_reads_the_days_left_on_a_trusted_certificate(
    http_server: StartServer, self_signed_cert: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=self_signed_cert.server_context())

    outcome = run_probe(http_spec(server.port, scheme="https", ca_file=str(self_signed_cert.cert_file)))

    assert outcome.ok, outcome.detail
    assert outcome.tls_days_left == self_signed_cert.valid_days - 1  # 30 days minus seconds
    assert "tls_ms" in outcome.timings_ms


def test_it_reports_an_untrusted_certificate_as_a_tls_error(
    http_server: StartServer, self_signed_cert: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=self_signed_cert.server_context())

    outcome = run_probe(http_spec(server.port, scheme="https"))

    assert outcome.error_kind is ErrorKind.TLS_ERROR
    assert outcome.phase is Phase.TLS
    assert "self-signed certificate" in outcome.detail


def test_it_reads_the_days_left_without_verification_when_asked(
    http_server: StartServer, self_signed_cert: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=self_signed_cert.server_context())

    outcome = run_probe(http_spec(server.port, scheme="https", verify_tls=False))

    assert outcome.ok, outcome.detail
    assert outcome.tls_days_left == self_signed_cert.valid_days - 1


def test_it_tells_tls_spoken_to_a_plain_http_port(http_server: StartServer) -> None:
    server = http_server({"/health": (200, "OK")})

    outcome = run_probe(http_spec(server.port, scheme="https"))

    assert outcome.error_kind is ErrorKind.TLS_TO_PLAIN
    assert "answers plain HTTP (HTTP 200), not TLS" in outcome.detail


def test_it_tells_plain_http_spoken_to_a_tls_port(
    http_server: StartServer, self_signed_cert: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=self_signed_cert.server_context())

    outcome = run_probe(http_spec(server.port))

    assert outcome.error_kind is ErrorKind.PLAIN_TO_TLS
    assert "expects https://" in outcome.detail


def test_it_tells_plain_http_spoken_to_an_nginx_tls_port(http_server: StartServer) -> None:
    nginx_answer = "<center>The plain HTTP request was sent to HTTPS port</center>"
    server = http_server({"/health": (400, nginx_answer)})

    outcome = run_probe(http_spec(server.port))

    assert outcome.error_kind is ErrorKind.PLAIN_TO_TLS
    assert outcome.http_status == 400


# -- TCP and DNS --------------------------------------------------------------------------


def test_it_connects_over_tcp(silent_port: int, refused_port: int) -> None:
    assert run_probe(ProbeSpec(kind=ProbeKind.TCP, host="127.0.0.1", port=silent_port)).ok
    refused = run_probe(ProbeSpec(kind=ProbeKind.TCP, host="127.0.0.1", port=refused_port))
    assert refused.error_kind is ErrorKind.REFUSED


def test_it_resolves_a_name_from_the_hosts_file() -> None:
    outcome = run_probe(ProbeSpec(kind=ProbeKind.DNS, host="localhost"))

    assert outcome.ok
    assert "127.0.0.1" in outcome.resolved_addresses
    assert outcome.detail.startswith("localhost resolves to ")


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "/var/run/postgresql"])
def test_it_runs_select_1_on_postgresql(host: str) -> None:
    outcome = run_probe(ProbeSpec(kind=ProbeKind.POSTGRES, host=host, username="postgres"))

    assert outcome.ok, outcome.detail
    assert "answered SELECT 1 as postgres" in outcome.detail
    assert {"connect_ms", "query_ms"} <= set(outcome.timings_ms)


def test_it_reports_a_postgresql_login_refusal_without_the_password() -> None:
    spec = ProbeSpec.from_url("postgresql://nobody-here:s3cret-pw@127.0.0.1:5432/postgres")

    outcome = run_probe(spec)

    assert outcome.error_kind is ErrorKind.AUTH_FAILED
    assert 'role "nobody-here" does not exist' in outcome.detail
    assert "s3cret-pw" not in json.dumps(outcome.to_dict())


def test_it_tells_a_refused_postgresql_port(refused_port: int) -> None:
    outcome = run_probe(ProbeSpec(kind=ProbeKind.POSTGRES, host="127.0.0.1", port=refused_port))

    assert outcome.error_kind is ErrorKind.REFUSED
    assert outcome.detail == f"Connection refused by 127.0.0.1:{refused_port}"


def test_it_tells_a_postgresql_probe_that_reached_an_http_server(http_server: StartServer) -> None:
    server = http_server({})

    outcome = run_probe(ProbeSpec(kind=ProbeKind.POSTGRES, host="127.0.0.1", port=server.port))

    assert outcome.error_kind is ErrorKind.PROTOCOL_ERROR


# -- Redis --------------------------------------------------------------------------------


def test_it_pings_redis() -> None:
    outcome = run_probe(ProbeSpec.from_url("redis://127.0.0.1:6379/0"))

    assert outcome.ok, outcome.detail
    assert {"connect_ms", "ping_ms"} <= set(outcome.timings_ms)


def test_it_pings_a_password_protected_redis(private_redis: PrivateRedis) -> None:
    spec = ProbeSpec(kind=ProbeKind.REDIS, host=private_redis.socket_path, password=private_redis.password)

    assert run_probe(spec).ok


def test_it_reports_a_wrong_redis_password_without_printing_it(
    private_redis: PrivateRedis,
) -> None:
    spec = ProbeSpec(kind=ProbeKind.REDIS, host=private_redis.socket_path, password="wrong-pw-42")

    outcome = run_probe(spec)

    assert outcome.error_kind is ErrorKind.AUTH_FAILED
    assert "refused the credentials" in outcome.detail
    assert "wrong-pw-42" not in repr(spec) + repr(outcome) + json.dumps(spec.to_dict())


def test_it_reports_a_missing_redis_password(private_redis: PrivateRedis) -> None:
    outcome = run_probe(ProbeSpec(kind=ProbeKind.REDIS, host=private_redis.socket_path))

    assert outcome.error_kind is ErrorKind.AUTH_FAILED
    assert "requires a password and none was given" in outcome.detail


def test_it_tells_a_refused_redis_port(refused_port: int) -> None:
    outcome = run_probe(ProbeSpec(kind=ProbeKind.REDIS, host="127.0.0.1", port=refused_port))

    assert outcome.error_kind is ErrorKind.REFUSED


# -- the spec and the outcome -------------------------------------------------------------


def test_it_moves_url_credentials_out_of_what_is_shown() -> None:
    spec = ProbeSpec.from_url("redis://default:hunter2-pw@redis:6379/1", timeout=1.0)

    assert spec.password == "hunter2-pw"
    assert (spec.username, spec.database, spec.target) == (
        "default",
        "1",
        "redis://default@redis:6379/1",
    )
    assert "hunter2-pw" not in repr(spec)


def test_it_refuses_a_password_inside_an_http_url() -> None:
    with pytest.raises(ValueError, match="password"):
        ProbeSpec(kind=ProbeKind.HTTP, url="http://admin:pw@litellm:4000/health")


def test_it_swaps_the_host_and_keeps_port_path_and_scheme() -> None:
    spec = ProbeSpec(kind=ProbeKind.HTTP, url="https://192.168.1.131:4000/health/liveliness")

    assert spec.with_host("host.docker.internal").url == (
        "https://host.docker.internal:4000/health/liveliness"
    )
    assert spec.with_host("fd00::1").url == "https://[fd00::1]:4000/health/liveliness"


def test_it_round_trips_specs_and_outcomes_through_json(refused_port: int) -> None:
    spec = http_spec(refused_port, expected_status=(200, 204), password="not-in-json")
    outcome = run_probe(spec)

    spec_data = json.loads(json.dumps(spec.to_dict()))
    outcome_data = json.loads(json.dumps(outcome.to_dict()))

    assert "password" not in spec_data
    assert ProbeSpec.from_dict(spec_data, password="not-in-json") == spec
    assert ProbeOutcome.from_dict(outcome_data) == outcome
