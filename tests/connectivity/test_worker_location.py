"""The worker decides where it runs from what its process sees, and the diagnosis follows.

Real processes in network namespaces (tests/netns.py) and private mount namespaces
(tests/rootview.py): the lab's host namespace holds the bridges of a Docker host, its
containers have a veth eth0, a bare namespace has loopback only, so there only the files
can tell; a mount namespace shows or hides `/.dockerenv`, whatever the machine running
the suite is.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from portal.celery import app
from portal.connectivity.location import LocationFacts, decide
from portal.connectivity.models import CheckResult, Network
from portal.connectivity.schedules import SWEEP_TASK
from tests.connectivity.factories import make_target
from tests.connectivity.test_connectivity_netns import (  # noqa: F401  (socket_broker: a fixture)
    database_url_over_socket,
    socket_broker,
)
from tests.netns import NetnsLab, require_netns
from tests.rootview import root_view
from tests.workers import CeleryWorker

LOCATION = ["-m", "portal.connectivity.location"]


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    require_netns()
    with NetnsLab(networks=("backend-dev",)) as lab:
        yield lab


@pytest.fixture
def roots() -> Iterator[Path]:
    """Where the mount namespaces build their roots (empty directories once they exit)."""
    with tempfile.TemporaryDirectory(prefix="portal-rootview-") as folder:
        yield Path(folder)


def seen_by(lab: NetnsLab, namespace: str, root: Path, *, dockerenv: bool) -> dict[str, object]:
    root.mkdir()
    done = lab.exec(namespace, [*root_view(dockerenv=dockerenv, at=root), sys.executable, *LOCATION])
    return json.loads(done.stdout)


@pytest.mark.netns
def test_each_process_tells_host_from_container_by_what_it_sees(lab: NetnsLab, roots: Path) -> None:
    if decide(LocationFacts.gather()).reason.startswith("its cgroup"):
        pytest.skip("this machine's cgroup names a container runtime; a namespace cannot hide it")
    box = lab.add_bare_namespace("box")

    docker_host = seen_by(lab, lab.host_ns, roots / "host", dockerenv=True)
    container = seen_by(lab, lab.container("backend-dev"), roots / "container", dockerenv=False)
    marked_box = seen_by(lab, box, roots / "marked", dockerenv=True)
    plain_box = seen_by(lab, box, roots / "plain", dockerenv=False)
    lab.hosts_entry(box, "host.docker.internal", "10.0.0.1")  # extra_hosts: host-gateway
    gateway_box = seen_by(lab, box, roots / "gateway", dockerenv=False)

    # The bridges decide even with /.dockerenv: a container with network_mode: host shares
    # the host's network, so 127.0.0.1 is the host there too.
    assert docker_host["in_container"] is False
    assert "bridge br0" in str(docker_host["reason"])
    assert container["in_container"] is True
    assert "eth0 is one end of a veth pair" in str(container["reason"])
    assert (marked_box["in_container"], marked_box["reason"]) == (True, "/.dockerenv is present")
    assert plain_box["in_container"] is False
    assert (gateway_box["in_container"], gateway_box["reason"]) == (
        True,
        "its hosts file names host.docker.internal",
    )


@pytest.mark.netns
@pytest.mark.slow
def test_a_worker_on_the_host_speaks_of_the_host_and_one_in_a_container_of_the_container(
    transactional_db: None,
    lab: NetnsLab,
    roots: Path,
    socket_broker: str,  # noqa: F811
) -> None:
    database_url = database_url_over_socket()
    box = lab.add_bare_namespace("box")
    on_host = Network.objects.create(name="lab-on-host", guess_alternatives=False)  # detect
    in_box = Network.objects.create(name="lab-in-box", guess_alternatives=False)
    # Nothing listens on 127.0.0.1:4000 in either namespace.
    refused = make_target(
        "http://127.0.0.1:4000/health/liveliness", on_host, in_box, preset="litellm_liveliness"
    )
    (roots / "host").mkdir()
    (roots / "box").mkdir()
    workers = [
        CeleryWorker(
            database_url=database_url,
            broker_url=socket_broker,
            queues=[network.queue],
            hostname=f"{network.name}@lab",
            # The Docker host's facts without a marker; the bare box with Docker's marker.
            argv_prefix=["ip", "netns", "exec", namespace, *root_view(dockerenv=marker, at=root)],
            extra_env={"REDIS_URL": ""},
            concurrency=1,
        )
        for network, namespace, marker, root in (
            (on_host, lab.host_ns, False, roots / "host"),
            (in_box, box, True, roots / "box"),
        )
    ]
    try:
        for worker in workers:
            worker.start()
        with Connection(socket_broker) as broker:
            for network in (on_host, in_box):
                app.send_task(
                    SWEEP_TASK, kwargs={"network_id": network.pk}, queue=network.queue, connection=broker
                )
        deadline = time.monotonic() + 60
        while CheckResult.objects.filter(target=refused).count() < 2:
            if time.monotonic() > deadline:
                pytest.fail("the sweeps did not finish:\n" + "\n----\n".join(w.log() for w in workers))
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()

    from_host = CheckResult.objects.get(target=refused, network=on_host)
    from_box = CheckResult.objects.get(target=refused, network=in_box)
    assert (from_host.error_kind, from_host.diagnosis_kind) == ("refused", "host_port_closed")
    assert "Nothing on this host listens on 127.0.0.1:4000" in from_host.diagnosis
    assert "container" not in from_host.diagnosis + from_host.suggested_fix
    assert (from_box.error_kind, from_box.diagnosis_kind) == ("refused", "loopback_in_container")
    assert "127.0.0.1 in a container is the container itself" in from_box.diagnosis
    assert "http://host.docker.internal:4000/health/liveliness" in from_box.suggested_fix
    # Each worker wrote down what it found, for the network's admin page.
    on_host.refresh_from_db()
    in_box.refresh_from_db()
    assert on_host.worker_location_seen.startswith("on the host: its network holds the bridge br0")
    assert in_box.worker_location_seen == "in a container: /.dockerenv is present"


@pytest.mark.parametrize(
    ("facts", "in_container", "reason"),
    [
        # compose's `network_mode: host`: a container's files, the host's network.
        (LocationFacts(bridges=("docker0",), container_files=("/.dockerenv",)), False, "docker0"),
        (LocationFacts(uplinks=("eth0",), linked_uplinks=("eth0",)), True, "veth"),
        # A host's NIC beside a veth it made: not a container's network.
        (LocationFacts(uplinks=("enp3s0", "veth1"), linked_uplinks=("veth1",)), False, "no container"),
        (LocationFacts(uplinks=("eth0",), container_cgroups=("/docker/4c3b2f1a9d2e",)), True, "cgroup"),
        (LocationFacts(uplinks=("eth0",), container_cgroups=("/kubepods/burstable/pod1",)), True, "kubepods"),
        (LocationFacts(uplinks=("eth0",)), False, "no container"),
    ],
)
def test_it_decides_from_the_facts_in_order(facts: LocationFacts, in_container: bool, reason: str) -> None:
    location = decide(facts)
    assert location.in_container is in_container
    assert reason in location.reason
