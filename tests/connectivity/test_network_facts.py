"""What a worker reports of its network, the pins an operator may set over it, and what the
diagnosis then knows about every network."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.connectivity.checks import network_context
from portal.connectivity.diagnosis import DiagnosisKind, diagnose
from portal.connectivity.explain import explain
from portal.connectivity.facts import InterfaceAddress, NetworkFacts, this_process_facts
from portal.connectivity.knowledge import network_knowledge
from portal.connectivity.models import Network
from portal.connectivity.probes import ErrorKind, Phase, ProbeOutcome, ProbeSpec
from portal.connectivity.workers import network_facts_record
from tests.connectivity.factories import make_network, make_target

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def reported(subnet: str = "10.1.2.0/24", gateway: str = "10.1.2.1", **more: Any) -> NetworkFacts:
    address = str(ipaddress.ip_network(subnet).network_address + 5)
    return NetworkFacts(
        addresses=(InterfaceAddress("eth0", address, subnet),),
        gateway=gateway,
        resolvers=("127.0.0.11",),
        in_container=True,
        location_reason="eth0 is one end of a veth pair, as a container's network is",
        **more,
    )


def reported_network(facts: NetworkFacts, **fields: Any) -> Network:
    network = make_network(worker_location="detect", **fields)
    network_facts_record(network=network, facts=facts)
    return Network.objects.get(pk=network.pk)


# -- reading the facts ----------------------------------------------------------------------


def test_it_reads_routes_resolver_and_hosts_from_the_files_the_kernel_and_resolver_keep(
    tmp_path: Path,
) -> None:
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    # The kernel writes addresses little-endian: 0101A8C0 is 192.168.1.1, 0000007F 127.0.0.0.
    (tmp_path / "proc/net/route").write_text(
        ROUTE_HEADER
        + "lo\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        + "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
        + "lo\t0000000A\t00000000\t0000\t0\t0\t0\t000000FF\t0\t0\t0\n"  # not up: ignored
    )
    (tmp_path / "etc/resolv.conf").write_text(
        "# Docker's embedded DNS\nnameserver 127.0.0.11\nsearch old.example\nsearch corp.example\noptions ndots:0\n"
    )
    (tmp_path / "etc/hosts").write_text(
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n172.17.0.1 host.docker.internal\n"
        "10.9.0.4 LiteLLM litellm-old  # left by extra_hosts\nnot-an-address name\n"
    )

    facts = NetworkFacts.gather(root=tmp_path)

    assert facts.gateway == "192.168.1.1"
    assert InterfaceAddress("lo", "127.0.0.1", "127.0.0.0/8") in facts.addresses
    assert facts.resolvers == ("127.0.0.11",)
    assert facts.search_domains == ("corp.example",)  # the last search line wins, as in glibc
    assert facts.hosts == {
        "host.docker.internal": ("172.17.0.1",),
        "litellm": ("10.9.0.4",),
        "litellm-old": ("10.9.0.4",),
    }
    assert facts.host_gateway_names == ("host.docker.internal",)


def test_a_report_reads_back_the_same_and_drops_what_is_malformed() -> None:
    facts = reported(hosts={"litellm": ("10.1.2.7",)}, search_domains=("corp.example",))

    assert NetworkFacts.from_dict(facts.to_dict()) == facts
    broken = {**facts.to_dict(), "addresses": [{"interface": "eth0", "address": "nope", "subnet": "x"}]}
    assert NetworkFacts.from_dict({**broken, "gateway": "not-an-ip"}).addresses == ()
    assert NetworkFacts.from_dict({**broken, "gateway": "not-an-ip"}).gateway is None


# -- pins -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "sentence"),
    [
        ({"subnet": "172.20.0.1"}, "subnet", "is not an address range in CIDR form, such as 172.20.0.0/16"),
        ({"subnet": "172.20.0.0/33"}, "subnet", "is not an address range in CIDR form"),
        (
            {"subnet": "172.20.0.0/16", "gateway": "10.9.9.1"},
            "gateway",
            "The gateway 10.9.9.1 lies outside the subnet 172.20.0.0/16",
        ),
    ],
)
def test_it_refuses_a_bad_pin_with_a_sentence(fields: dict[str, str], field: str, sentence: str) -> None:
    network = Network(name="pinned", **fields)

    with pytest.raises(ValidationError) as refused:
        network.full_clean()

    assert sentence in " ".join(refused.value.message_dict[field])


@pytest.mark.django_db
def test_a_pinned_gateway_must_lie_in_the_subnet_the_worker_reports() -> None:
    network = reported_network(reported("10.1.2.0/24"))
    network.gateway = "10.9.9.1"

    with pytest.raises(ValidationError) as refused:
        network.full_clean()

    assert "lies outside the subnet 10.1.2.0/24" in refused.value.message_dict["gateway"][0]


@pytest.mark.django_db
def test_the_admin_shows_a_bad_pin_as_a_sentence_on_the_field_not_a_500(admin_client: Client) -> None:
    network = reported_network(reported("10.1.2.0/24"))

    response = admin_client.post(
        reverse("admin:connectivity_network_change", args=[network.pk]),
        {
            "subnet": "10.1.2.0/24",
            "gateway": "10.1.3.1",
            "description": "",
            "worker_location": "detect",
            "host_addresses": "",
            "alternative_hosts": "",
            "sweep_every_seconds": "30",
            "heartbeat_stale_after_seconds": "180",
        },
    )

    assert response.status_code == 200
    assert "The gateway 10.1.3.1 lies outside the subnet 10.1.2.0/24" in response.content.decode()
    network.refresh_from_db()
    assert network.gateway is None  # nothing saved


@pytest.mark.django_db
def test_a_pin_wins_and_a_disagreement_shows_on_the_row_and_in_the_diagnosis(admin_client: Client) -> None:
    network = reported_network(reported("10.1.2.0/24", "10.1.2.1"), subnet="172.20.0.0/16")

    context = network_context(network=network)
    spec = ProbeSpec.from_url("http://172.20.0.9:4000/health")
    outcome = ProbeOutcome(
        ok=False, target=spec.target, latency_ms=3.0, error_kind=ErrorKind.TIMEOUT, phase=Phase.CONNECT,
        detail="Connection timed out after 3.0 s to 172.20.0.9:4000",
    )  # fmt: skip
    diagnosis = diagnose(spec, outcome, context)
    page = admin_client.get(reverse("admin:connectivity_network_changelist")).content.decode()
    detail = admin_client.get(
        reverse("admin:connectivity_network_change", args=[network.pk])
    ).content.decode()

    assert context.subnet == ipaddress.ip_network("172.20.0.0/16")  # the pin
    assert context.gateway == "10.1.2.1"  # not pinned: the worker's
    assert network.pin_disagreements() == ["pinned subnet 172.20.0.0/16, the worker sees 10.1.2.0/24"]
    assert "the worker sees 10.1.2.0/24" in diagnosis.summary
    assert (
        "172.20.0.0/16 via 10.1.2.1 (pinned) ⚠ pinned subnet 172.20.0.0/16, the worker sees 10.1.2.0/24"
        in page
    )
    assert "Default gateway: 10.1.2.1." in detail
    assert "Disagrees with a pin: pinned subnet 172.20.0.0/16, the worker sees 10.1.2.0/24." in detail


@pytest.mark.django_db
def test_a_probe_before_any_report_uses_the_facts_of_the_process_that_runs_it() -> None:
    network = make_network(worker_location="detect")
    own = this_process_facts()

    context = network_context(network=network)

    assert network.facts is None
    assert context.gateway == own.gateway
    assert str(context.subnet) == (own.subnets[0] if own.subnets else "None")
    assert context.in_container is own.in_container


# -- every network known ----------------------------------------------------------------------


@pytest.mark.django_db
def test_every_network_is_known_from_one_query_of_the_placements(django_assert_num_queries: Any) -> None:
    dev = reported_network(reported("10.1.2.0/24", hosts={"litellm": ("10.1.2.7",)}))
    others = [
        reported_network(reported(f"10.3.{i}.0/24", hosts={f"svc{i}": (f"10.3.{i}.9",)})) for i in range(5)
    ]
    make_target("http://litellm:4000/health/liveliness", dev, name="dev LiteLLM by name")
    make_target("redis://redis:6379", dev, name="dev Redis")
    for other in others:
        make_target("http://litellm:4000/health/liveliness", other)
    networks = list(Network.objects.all())

    with django_assert_num_queries(1):  # the placements; the networks are passed in
        knowledge = network_knowledge(network=dev, networks=networks)

    assert {o.name for o in knowledge.context.others} >= {o.name for o in others}
    third = next(o for o in knowledge.context.others if o.name == others[3].name)
    assert third.subnets == (ipaddress.ip_network("10.3.3.0/24"),)
    assert third.holders["10.3.3.9"] == "svc3"
    assert knowledge.context.names_by_port == {4000: ("litellm",), 6379: ("redis",)}
    assert "10.3.3.9" in knowledge.reported_addresses
    assert knowledge.reported_names == ("litellm",)


@pytest.mark.django_db
def test_an_address_inside_another_networks_subnet_is_that_network_not_the_lan() -> None:
    dev = reported_network(reported("10.1.2.0/24"))
    reported_network(reported("10.5.0.0/24", hosts={"litellm": ("10.5.0.7",)}), name="backend-prod-x")
    spec = ProbeSpec.from_url("http://10.5.0.7:4000/health/liveliness")
    outcome = ProbeOutcome(
        ok=False, target=spec.target, latency_ms=3.0, error_kind=ErrorKind.TIMEOUT, phase=Phase.CONNECT,
        detail="Connection timed out after 3.0 s to 10.5.0.7:4000",
    )  # fmt: skip

    diagnosis = diagnose(spec, outcome, network_context(network=dev))
    # The same address with no other network reported is a LAN address, as before.
    Network.objects.filter(name="backend-prod-x").update(facts_seen={})
    lan = diagnose(spec, outcome, network_context(network=dev))

    assert diagnosis.kind is DiagnosisKind.OTHER_NETWORK_ADDRESS
    assert diagnosis.summary.startswith("That address is on backend-prod-x: 10.5.0.7 (litellm)")
    assert lan.kind is DiagnosisKind.LAN_ADDRESS_FROM_CONTAINER


@pytest.mark.django_db
def test_the_report_is_written_on_the_row_with_its_time() -> None:
    network = make_network(worker_location="detect")
    before = timezone.now()

    network_facts_record(network=network, facts=reported())

    network.refresh_from_db()
    assert network.facts == reported()
    assert network.facts_seen_at is not None and network.facts_seen_at >= before
    assert (
        network.worker_location_seen
        == "in a container: eth0 is one end of a veth pair, as a container's network is"
    )
    assert network.worker_in_container  # detect: the worker's report


@pytest.mark.django_db
def test_a_check_run_here_uses_this_processs_facts_even_after_a_report() -> None:
    network = reported_network(reported("10.1.2.0/24", "10.1.2.1"))
    own = this_process_facts()

    from_the_worker = network_knowledge(network=network).context
    from_here = network_knowledge(network=network, here=True).context

    assert (from_the_worker.gateway, from_the_worker.in_container) == ("10.1.2.1", True)
    assert (from_here.gateway, from_here.in_container) == (own.gateway, own.in_container)


@pytest.mark.django_db
def test_explain_probes_diagnoses_and_finds_without_the_credentials(
    http_server: Any, refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()  # on the host, no guesses: only the names given are tried
    spec = ProbeSpec.from_url(f"http://127.0.0.1:{refused_port}/health", password="the-master-key")

    refused = explain(spec, network=network, service_names=["localhost"])
    found = explain(
        replace(spec, url=f"http://127.0.0.2:{server.port}/health"),
        network=network,
        service_names=["127.0.0.1"],
    )

    assert (refused.outcome.error_kind, refused.diagnosis.kind) == (
        ErrorKind.REFUSED,
        DiagnosisKind.HOST_PORT_CLOSED,
    )
    assert [c.target for c, _ in refused.tried] == [f"http://localhost:{refused_port}/health"]
    assert {c.password for c, _ in [*refused.tried, *found.tried]} == {None}
    assert found.finding == f"From {network.name}, http://127.0.0.1:{server.port}/health answers."
    assert found.fix.endswith(found.finding)
    assert refused.finding == ""  # localhost refuses that port too: nothing found
