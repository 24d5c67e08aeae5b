from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from portal.connectivity.alternatives import (
    MAX_CANDIDATES,
    candidate_addresses,
    find_working_address,
    finding_sentence,
    guessed_service_names,
)
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


def test_it_keeps_port_path_and_scheme() -> None:
    failing = ProbeSpec(
        kind=ProbeKind.HTTP, url="https://192.168.1.131:4000/health/readiness", readiness_requires_db=True
    )

    first = candidate_addresses(failing, DEV, service_names=["litellm"])[0]

    assert first.url == "https://litellm:4000/health/readiness"
    assert first.readiness_requires_db


def test_it_never_hands_the_targets_credentials_to_another_host() -> None:
    # The password was entered for 192.168.1.131; a guessed `postgres` may be anyone's.
    failing = spec_from_preset("postgres", "192.168.1.131", username="portal", password="for-that-host")

    candidates = candidate_addresses(failing, DEV, ["db.lan"], service_names=["pg"])

    assert hosts_of(candidates) == ["pg", "postgres", "db", "host.docker.internal", "10.201.0.1", "db.lan"]
    assert {(c.username, c.password) for c in candidates} == {(None, None)}
    assert {(c.port, c.kind) for c in candidates} == {(5432, ProbeKind.POSTGRES)}


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


# -- the clues a network gives ------------------------------------------------------------


def test_it_guesses_the_service_a_port_and_path_give_away() -> None:
    liveliness = ProbeSpec.from_url("http://192.168.1.131:4000/health/liveliness")  # no preset
    chat = ProbeSpec.from_url("http://10.0.0.5:3080/health")
    pg = ProbeSpec(kind=ProbeKind.POSTGRES, host="10.0.0.5", port=5432)
    redis = ProbeSpec(kind=ProbeKind.REDIS, host="10.0.0.5", port=6379)
    anyones_health = ProbeSpec.from_url("http://10.0.0.5:8123/health")

    assert guessed_service_names(liveliness)[:1] == ["litellm"]
    assert guessed_service_names(chat) == ["librechat-api", "librechat"]
    assert guessed_service_names(pg) == ["postgres", "db"]
    assert guessed_service_names(redis) == ["redis"]
    assert guessed_service_names(anyones_health) == []  # "/health" alone is everyone's


def test_it_tries_the_other_targets_names_then_guesses_then_what_workers_report() -> None:
    failing = ProbeSpec.from_url("http://localhost:4000/health/liveliness")

    candidates = candidate_addresses(
        failing,
        DEV,
        ["nas.lan"],
        neighbours=[("llm-gateway", 4000), ("postgres", 5432), ("localhost", 4000)],
        reported_names=["litellm-old"],
        reported_addresses=["10.202.0.7"],
    )

    assert hosts_of(candidates) == [
        "llm-gateway",  # another target on the same network and port
        "litellm",  # what 4000 + /health/liveliness give away
        "litellm-old",  # the network's worker's hosts file
        "10.202.0.7",  # another network's worker reports it
        "host.docker.internal",
        "10.201.0.1",
        "192.168.1.131",
        "nas.lan",
    ]


def test_without_guessing_it_tries_only_what_someone_listed() -> None:
    failing = ProbeSpec.from_url("http://localhost:4000/health/liveliness")

    candidates = candidate_addresses(
        failing, DEV, ["nas.lan"], guess=False, neighbours=[("llm-gateway", 4000)], reported_names=["x"]
    )

    assert hosts_of(candidates) == ["192.168.1.131", "10.201.0.1", "nas.lan"]  # DEV's host addresses


def test_it_tries_at_most_a_bounded_number_of_candidates() -> None:
    failing = ProbeSpec.from_url("http://localhost:4000/health/liveliness")

    candidates = candidate_addresses(failing, DEV, reported_names=[f"name{i}" for i in range(200)])

    assert len(candidates) == MAX_CANDIDATES


def test_its_answer_says_from_which_network_it_works(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    failing = ProbeSpec(kind=ProbeKind.HTTP, url=f"http://127.0.0.2:{server.port}/health")

    found = find_working_address(failing, ON_THE_HOST, ["127.0.0.3", "127.0.0.1"], timeout=1.0)

    assert finding_sentence("backend-dev", found) == (
        f"From backend-dev, http://127.0.0.1:{server.port}/health answers."
    )
    assert finding_sentence("backend-dev", found[:1]) == ""
