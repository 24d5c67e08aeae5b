from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from portal.connectivity.alternatives import candidate_addresses, find_working_address
from portal.connectivity.diagnosis import NetworkContext
from portal.connectivity.probes import ErrorKind, ProbeKind, ProbeSpec, spec_from_preset
from tests.lab_server import LabHTTPServer

DEV = NetworkContext(
    network="backend-dev",
    subnet=ipaddress.ip_network("10.201.0.0/24"),
    gateway="10.201.0.1",
    host_addresses=("192.168.1.131", "10.201.0.1"),
)
ON_THE_HOST = NetworkContext(in_container=False)


def hosts_of(specs: list[ProbeSpec]) -> list[str]:
    return [spec.target_host for spec in specs]


def test_it_lists_the_likely_addresses_without_the_failed_one_or_repeats() -> None:
    failing = spec_from_preset("litellm_liveliness", "192.168.1.131")

    candidates = candidate_addresses(failing, DEV, ["LiteLLM", "nas.lan"])

    assert hosts_of(candidates) == ["litellm", "host.docker.internal", "10.201.0.1", "nas.lan"]


def test_it_keeps_port_path_scheme_and_credentials() -> None:
    failing = ProbeSpec(
        kind=ProbeKind.HTTP,
        url="https://192.168.1.131:4000/health/readiness",
        readiness_requires_db=True,
        password="kept",
    )

    first = candidate_addresses(failing, DEV, service_names=["litellm"])[0]

    assert first.url == "https://litellm:4000/health/readiness"
    assert first.readiness_requires_db and first.password == "kept"


def test_it_never_offers_loopback_to_a_container() -> None:
    failing = spec_from_preset("ollama_tags", "192.168.1.131")

    candidates = candidate_addresses(failing, DEV, ["localhost", "127.0.0.1", "::1"])

    assert not {"localhost", "127.0.0.1", "::1"} & set(hosts_of(candidates))


def test_it_offers_the_docker_host_only_to_a_container() -> None:
    failing = ProbeSpec(kind=ProbeKind.TCP, host="10.0.0.5", port=5432)

    assert hosts_of(candidate_addresses(failing, ON_THE_HOST, ["db.lan"])) == ["db.lan"]


def test_it_shows_which_candidate_answered(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    failing = ProbeSpec(kind=ProbeKind.HTTP, url=f"http://127.0.0.2:{server.port}/health")

    results = find_working_address(failing, ON_THE_HOST, ["127.0.0.3", "127.0.0.1"], timeout=1.0)

    assert [(spec.target_host, outcome.ok) for spec, outcome in results] == [
        ("127.0.0.3", False),
        ("127.0.0.1", True),
    ]
    assert results[0][1].error_kind is ErrorKind.REFUSED


def test_it_tries_the_candidates_at_the_same_time(silent_port: int) -> None:
    failing = ProbeSpec(kind=ProbeKind.HTTP, url=f"http://127.0.0.9:{silent_port}/health")

    started = time.monotonic()
    results = find_working_address(failing, ON_THE_HOST, ["127.0.0.1", "localhost"], timeout=0.5)
    elapsed = time.monotonic() - started

    assert [outcome.error_kind for _, outcome in results] == [ErrorKind.TIMEOUT] * 2
    assert elapsed < 0.9
