"""Probes and diagnosis from inside a Docker-like host built of network namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from portal.connectivity.diagnosis import DiagnosisKind, diagnose
from portal.connectivity.probes import ErrorKind, Phase, ProbeKind, ProbeSpec, spec_from_preset
from tests.connectivity.conftest import PrivateRedis
from tests.netns import HOST, NETNS_ETC, NetnsLab, require_netns

pytestmark = pytest.mark.netns

ALIVE = {"/health/liveliness": (200, '"I\'m alive!"')}


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    require_netns()
    with NetnsLab() as lab:
        lab.add_service("backend-dev", "litellm", 4000, responses=ALIVE)
        # On the Docker host: LiteLLM open to the containers, Ollama on loopback only.
        lab.add_service(HOST, "litellm-on-host", 4000, responses=ALIVE)
        lab.add_service(HOST, "ollama", 11434, listen="127.0.0.1", responses={"/api/tags": (200, "{}")})
        # backend-dev's compose has extra_hosts host.docker.internal:host-gateway; prod has not.
        dev = lab.container("backend-dev")
        lab.hosts_entry(dev, "host.docker.internal", lab.networks["backend-dev"].gateway)
        yield lab


def liveliness(host: str, timeout: float = 1.0) -> ProbeSpec:
    return spec_from_preset("litellm_liveliness", host, timeout=timeout)


def test_it_reaches_a_service_from_its_own_network_and_not_from_the_other(lab: NetnsLab) -> None:
    dev, prod = lab.container("backend-dev"), lab.container("backend-prod")
    litellm_address = lab.networks["backend-dev"].names["litellm"]

    from_dev = lab.run_probe(dev, liveliness("litellm"))
    by_name_from_prod = lab.run_probe(prod, liveliness("litellm"))
    by_address_from_prod = lab.run_probe(prod, liveliness(litellm_address))

    assert from_dev.ok, from_dev.detail
    assert from_dev.resolved_addresses == (litellm_address,)
    assert by_name_from_prod.error_kind is ErrorKind.DNS_FAILURE
    assert by_address_from_prod.error_kind is ErrorKind.TIMEOUT  # dropped between networks
    must_not_reach = lab.context("backend-prod", expect_reachable=False)
    diagnosis = diagnose(liveliness(litellm_address), by_address_from_prod, must_not_reach)
    assert (diagnosis.kind, diagnosis.healthy) == (DiagnosisKind.ISOLATED, True)


def test_it_diagnoses_a_service_name_from_another_network(lab: NetnsLab) -> None:
    spec = liveliness("litellm")

    outcome = lab.run_probe(lab.container("backend-prod"), spec)
    diagnosis = diagnose(spec, outcome, lab.context("backend-prod"))

    assert diagnosis.kind is DiagnosisKind.NAME_NOT_ON_NETWORK
    assert "docker network connect backend-prod litellm" in diagnosis.fix


def test_it_flags_networks_that_are_not_isolated(lab: NetnsLab) -> None:
    spec = liveliness(lab.networks["backend-dev"].names["litellm"])
    lab.set_isolation(False)
    try:
        outcome = lab.run_probe(lab.container("backend-prod"), spec)
    finally:
        lab.set_isolation(True)

    diagnosis = diagnose(spec, outcome, lab.context("backend-prod", expect_reachable=False))

    assert outcome.ok
    assert diagnosis.kind is DiagnosisKind.NOT_ISOLATED
    assert "the networks are not isolated" in diagnosis.summary


def test_it_diagnoses_localhost_and_finds_the_service_name(lab: NetnsLab) -> None:
    dev = lab.container("backend-dev")
    spec = liveliness("localhost")

    outcome = lab.run_probe(dev, spec)
    diagnosis = diagnose(spec, outcome, lab.context("backend-dev"))
    found = lab.find_working_address(dev, spec, lab.context("backend-dev"), timeout=1.0)

    assert outcome.error_kind is ErrorKind.REFUSED
    assert diagnosis.kind is DiagnosisKind.LOOPBACK_IN_CONTAINER
    answered = [candidate.url for candidate, result in found if result.ok]
    assert answered[0] == "http://litellm:4000/health/liveliness"


def test_it_times_out_on_a_blackholed_lan_address_and_finds_host_docker_internal(
    lab: NetnsLab,
) -> None:
    dev = lab.container("backend-dev")
    lan_address = lab.lan_address()  # the seeds' 192.168.1.131: LiteLLM runs on the host
    spec = ProbeSpec(kind=ProbeKind.HTTP, url=f"http://{lan_address}:4000/health/liveliness", timeout=1.0)
    context = replace(lab.context("backend-dev"), host_addresses=(lan_address,))

    outcome = lab.run_probe(dev, spec)
    diagnosis = diagnose(spec, outcome, context)
    found = lab.find_working_address(dev, spec, context, timeout=1.0)

    assert (outcome.error_kind, outcome.phase) == (ErrorKind.TIMEOUT, Phase.CONNECT)
    assert 900 <= outcome.latency_ms < 1500
    assert outcome.detail == f"Connection timed out after 1.0 s to {lan_address}:4000"
    assert diagnosis.kind is DiagnosisKind.LAN_ADDRESS_FROM_CONTAINER
    assert "http://host.docker.internal:4000/health/liveliness" in diagnosis.fix
    gateway = lab.networks["backend-dev"].gateway
    # Port 4000 and /health/liveliness give LiteLLM away: its usual name is tried first, and
    # answers here (the lab runs a litellm container on backend-dev too).
    assert [(c.target_host, r.ok) for c, r in found] == [
        ("litellm", True),
        ("host.docker.internal", True),
        (gateway, True),
    ]


def test_it_tells_a_host_service_that_listens_on_loopback_only(lab: NetnsLab) -> None:
    spec = spec_from_preset("ollama_tags", "host.docker.internal", timeout=1.0)

    outcome = lab.run_probe(lab.container("backend-dev"), spec)
    diagnosis = diagnose(spec, outcome, lab.context("backend-dev"))

    assert outcome.error_kind is ErrorKind.REFUSED
    assert outcome.resolved_addresses == (lab.networks["backend-dev"].gateway,)
    assert diagnosis.kind is DiagnosisKind.HOST_SERVICE_LOOPBACK_ONLY
    assert "OLLAMA_HOST=0.0.0.0" in diagnosis.fix


def test_it_tells_host_docker_internal_missing_on_linux(lab: NetnsLab) -> None:
    spec = spec_from_preset("ollama_tags", "host.docker.internal", timeout=1.0)

    outcome = lab.run_probe(lab.container("backend-prod"), spec)
    diagnosis = diagnose(spec, outcome, lab.context("backend-prod"))

    assert outcome.error_kind is ErrorKind.DNS_FAILURE
    assert outcome.latency_ms < 100  # `hosts: files`: an unknown name fails at once
    assert diagnosis.kind is DiagnosisKind.HOST_GATEWAY_UNRESOLVED


def test_it_diagnoses_an_address_in_the_subnet_that_nobody_holds(lab: NetnsLab) -> None:
    spec = liveliness(lab.unused_address("backend-dev"))

    outcome = lab.run_probe(lab.container("backend-dev"), spec)
    diagnosis = diagnose(spec, outcome, lab.context("backend-dev"))

    assert outcome.error_kind in (ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE)  # ARP gets no answer
    assert diagnosis.kind is DiagnosisKind.ADDRESS_NOT_IN_USE


def test_it_reaches_redis_and_postgresql_over_unix_sockets_from_a_namespace(
    lab: NetnsLab, private_redis: PrivateRedis
) -> None:
    dev = lab.container("backend-dev")
    redis = ProbeSpec(kind=ProbeKind.REDIS, host=private_redis.socket_path, password=private_redis.password)
    postgres = ProbeSpec(kind=ProbeKind.POSTGRES, host="/var/run/postgresql", username="postgres")

    assert lab.run_probe(dev, redis).ok
    assert lab.run_probe(dev, postgres).ok
    # ...while the root namespace's loopback is out of reach from there.
    over_tcp = lab.run_probe(dev, ProbeSpec(kind=ProbeKind.REDIS, host="127.0.0.1", timeout=1.0))
    assert over_tcp.error_kind is ErrorKind.REFUSED


def test_it_runs_spawned_processes_inside_the_namespace(lab: NetnsLab) -> None:
    code = "import os; print(os.readlink('/proc/self/ns/net'), open('/etc/hosts').read())"
    process = lab.spawn(lab.container("backend-dev"), [sys.executable, "-c", code], stdout=subprocess.PIPE)
    out, _ = process.communicate(timeout=10)

    assert out.split()[0] != os.readlink("/proc/self/ns/net")
    assert "litellm" in out  # this namespace's /etc/hosts


def test_it_leaves_nothing_behind() -> None:
    require_netns()
    with NetnsLab(networks=("backend-dev",)) as small:
        small.add_service("backend-dev", "api", 8050)
        namespaces = small.namespaces

    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [n for n in namespaces if n in listed]
    assert not [n for n in namespaces if Path(NETNS_ETC, n).exists()]
