"""On the wire: a Celery worker inside each network reports what it sees (no network row filled
by hand), and the diagnoses that need every network's facts come out of real sweeps.

Namespaces stand in for a Docker host with backend-dev and backend-prod (tests/netns.py);
`ip netns exec` bind-mounts each namespace's /etc/netns/<ns>/hosts and resolv.conf, and the
dev worker runs in a private mount namespace holding a /.dockerenv (tests/rootview.py).
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask
from kombu import Connection

from portal.celery import app
from portal.connectivity.models import CheckResult, Network, Target, TargetNetwork
from portal.connectivity.schedules import heartbeat_task_name, sweep_task_name
from tests.connectivity.factories import make_target
from tests.connectivity.test_connectivity_netns import (  # noqa: F401  (socket_broker: a fixture)
    ALIVE,
    database_url_over_socket,
    socket_broker,
)
from tests.netns import NETNS_ETC, NetnsLab, require_netns
from tests.rootview import root_view
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.netns, pytest.mark.slow]

RESOLV_CONF = "nameserver 10.255.0.53\nsearch corp.example lab.internal\n"


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    require_netns()
    with NetnsLab() as lab:
        # A gateway under a name of its own: nothing in the finder's lists guesses it, only the
        # other target on the same network and port names it.
        lab.add_service("backend-dev", "llm-gateway", 4000, responses=ALIVE)
        lab.add_service("backend-prod", "litellm-prod", 4000, responses=ALIVE)
        dev = lab.container("backend-dev")
        # compose's extra_hosts left behind after the container it named was removed.
        lab.hosts_entry(dev, "litellm-old", lab.unused_address("backend-dev"))
        for network in lab.networks:
            (NETNS_ETC / lab.container(network) / "resolv.conf").write_text(RESOLV_CONF)
        yield lab


def fire(entry_name: str, broker_url: str) -> None:
    """What celery beat does with a beat entry: its task, with its kwargs, to its queue."""
    entry = PeriodicTask.objects.get(name=entry_name)
    with Connection(broker_url) as broker:
        app.send_task(entry.task, kwargs=json.loads(entry.kwargs), queue=entry.queue, connection=broker)


def wait_until(condition: object, what: str, workers: list[CeleryWorker], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen:\n" + "\n----\n".join(w.log() for w in workers))
        time.sleep(0.2)


def test_workers_report_their_networks_and_the_diagnosis_uses_every_network(
    transactional_db: None,
    lab: NetnsLab,
    socket_broker: str,  # noqa: F811
) -> None:
    database_url = database_url_over_socket()
    # Rows as an operator leaves them: no subnet, no gateway, location detected.
    dev, _ = Network.objects.update_or_create(
        name="backend-dev", defaults={"subnet": "", "gateway": None, "facts_seen": {}, "facts_seen_at": None}
    )
    prod, _ = Network.objects.update_or_create(
        name="backend-prod", defaults={"subnet": "", "gateway": None, "facts_seen": {}, "facts_seen_at": None}
    )
    TargetNetwork.objects.filter(network__in=[dev, prod]).delete()
    gateway_address = lab.networks["backend-dev"].names["llm-gateway"]
    prod_address = lab.networks["backend-prod"].names["litellm-prod"]
    by_name = make_target("http://llm-gateway:4000/health/liveliness", dev, timeout_seconds=1.5)
    via_localhost = make_target("http://localhost:4000/health/liveliness", dev, timeout_seconds=1.5)
    dead_name = make_target("http://litellm-old:4000/health/liveliness", dev, timeout_seconds=1.5)
    across = make_target(f"http://{prod_address}:4000/health/liveliness", dev, timeout_seconds=1.5)

    with tempfile.TemporaryDirectory(prefix="portal-rootview-") as folder:
        (Path(folder) / "dev").mkdir()
        (Path(folder) / "prod").mkdir()
        workers = [
            CeleryWorker(
                database_url=database_url,
                broker_url=socket_broker,
                queues=[network.queue],
                hostname=f"{network.name}@lab",
                argv_prefix=["ip", "netns", "exec", lab.container(network.name), *prefix],
                extra_env={"REDIS_URL": ""},
                concurrency=1,
            )
            for network, prefix in (
                (dev, root_view(dockerenv=True, at=Path(folder) / "dev")),
                (prod, root_view(dockerenv=False, at=Path(folder) / "prod")),
            )
        ]
        try:
            for worker in workers:
                worker.start()
            for network in (dev, prod):
                fire(heartbeat_task_name(network.queue), socket_broker)
            wait_until(
                lambda: (
                    Network.objects.filter(pk__in=[dev.pk, prod.pk], facts_seen_at__isnull=False).count() == 2
                ),
                "the heartbeats' reports",
                workers,
            )
            fire(sweep_task_name(dev.name), socket_broker)
            wait_until(lambda: CheckResult.objects.filter(network=dev).count() == 4, "the dev sweep", workers)
        finally:
            for worker in workers:
                worker.stop()

    dev.refresh_from_db()
    prod.refresh_from_db()
    # Each worker reported its own network; nobody typed a subnet or a gateway.
    for network in (dev, prod):
        facts = network.facts
        lab_network = lab.networks[network.name]
        assert facts is not None and network.subnet == "" and network.gateway is None
        assert facts.subnets == (str(lab_network.subnet),)
        assert facts.gateway == lab_network.gateway
        assert facts.resolvers == ("10.255.0.53",)
        assert facts.search_domains == ("corp.example", "lab.internal")
        assert facts.in_container and not facts.host_gateway_names
        assert ipaddress.ip_address(facts.own_addresses[0]) in lab_network.subnet
    assert dev.facts.location_reason == "eth0 is one end of a veth pair, as a container's network is"  # type: ignore[union-attr]
    assert "/.dockerenv" in dev.facts.container_markers  # type: ignore[union-attr]
    assert "/.dockerenv" not in prod.facts.container_markers  # type: ignore[union-attr]
    assert dev.facts.hosts["llm-gateway"] == (gateway_address,)  # type: ignore[union-attr]
    assert dev.facts.hosts["litellm-old"] == (lab.unused_address("backend-dev"),)  # type: ignore[union-attr]
    assert "litellm-prod" in prod.facts.hosts and "llm-gateway" not in prod.facts.hosts  # type: ignore[union-attr]

    def result(target: Target) -> CheckResult:
        return CheckResult.objects.get(target=target, network=dev)

    assert result(by_name).ok

    # localhost in a container: the fix names the other target on this network and port,
    # and the finder proves it answers from backend-dev.
    loopback = result(via_localhost)
    assert loopback.diagnosis_kind == "loopback_in_container"
    assert "http://llm-gateway:4000/health/liveliness" in loopback.suggested_fix
    assert loopback.suggested_fix.endswith(
        "From backend-dev, http://llm-gateway:4000/health/liveliness answers."
    )

    # A name whose hosts entry outlived its container.
    dead = result(dead_name)
    assert (dead.error_kind, dead.diagnosis_kind) in {("timeout", "dead_name"), ("unreachable", "dead_name")}
    assert dead.diagnosis.startswith(
        f"This name points at an address nobody holds: litellm-old resolves to {lab.unused_address('backend-dev')}"
    )
    assert "the hosts file of the worker names it" in dead.suggested_fix

    # An address inside prod's subnet (as prod's worker reported it), from dev: join the network.
    other = result(across)
    assert (other.error_kind, other.diagnosis_kind) == ("timeout", "other_network_address")
    assert other.diagnosis.startswith(f"That address is on backend-prod: {prod_address} (litellm-prod)")
    assert "docker network connect backend-prod" in other.suggested_fix
    assert "host.docker.internal" not in other.diagnosis + other.suggested_fix.partition("From ")[0]
