"""The proof across real networks: a Celery worker INSIDE each network consumes only its own
queue, and what each one records differs the way Docker networks differ.

Namespaces stand in for a Docker host with backend-dev and backend-prod (tests/netns.py).
A namespace cannot reach the root namespace's 127.0.0.1, but Unix sockets cross namespaces:
the broker is a redis-server of this test's own on a Unix socket (kombu `redis+socket://`),
and the database is PostgreSQL's socket.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask
from kombu import Connection

from portal.celery import app
from portal.connectivity.models import (
    CheckResult,
    Expectation,
    Network,
    State,
    Target,
    TargetNetwork,
)
from portal.connectivity.schedules import sweep_task_name
from portal.models import WorkerHeartbeat
from tests.netns import HOST, NetnsLab, require_netns
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ALIVE = {"/health/liveliness": (200, '"I\'m alive!"')}
POSTGRES_SOCKET_DIR = Path("/var/run/postgresql")


@pytest.fixture(scope="module")
def socket_broker() -> Iterator[str]:
    """A private redis-server listening on a Unix socket only; its kombu URL."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    folder = Path(tempfile.mkdtemp(prefix="portal-netns-redis-"))
    socket_path = folder / "redis.sock"
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "777",
         "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the test's redis-server did not start")
            time.sleep(0.02)
        yield f"redis+socket://{socket_path}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def database_url_over_socket() -> str:
    if not list(POSTGRES_SOCKET_DIR.glob(".s.PGSQL.*")):
        pytest.skip(f"no PostgreSQL socket in {POSTGRES_SOCKET_DIR}")
    settings = connection.settings_dict
    # django-environ keeps a %2F-quoted host quoted; the `host` option reaches libpq as is.
    return f"postgres://{settings['USER']}@/{settings['NAME']}?host={POSTGRES_SOCKET_DIR}"


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    require_netns()
    with NetnsLab() as lab:
        lab.add_service("backend-dev", "litellm", 4000, responses=ALIVE)
        # LiteLLM on the Docker host itself, open to the containers (seed 1).
        lab.add_service(HOST, "litellm-on-host", 4000, responses=ALIVE)
        # backend-dev's compose has extra_hosts host.docker.internal:host-gateway.
        lab.hosts_entry(
            lab.container("backend-dev"), "host.docker.internal", lab.networks["backend-dev"].gateway
        )
        yield lab


def network_row(lab: NetnsLab, name: str, **fields: object) -> Network:
    lab_network = lab.networks[name]
    network, _ = Network.objects.update_or_create(
        name=name, defaults={"subnet": str(lab_network.subnet), "gateway": lab_network.gateway, **fields}
    )
    TargetNetwork.objects.filter(network=network).delete()  # only this test's targets
    return network


def target(name: str, address: str, preset: str = "", **placements: str) -> Target:
    row = Target(name=name, address=address, preset=preset, timeout_seconds=1.5, failure_threshold=1)
    row.full_clean()
    row.save()
    for network_name, expect in placements.items():
        TargetNetwork.objects.create(
            target=row, network=Network.objects.get(name=network_name.replace("_", "-")), expect=expect
        )
    return row


def test_it_checks_each_network_from_a_worker_inside_it(
    transactional_db: None, lab: NetnsLab, socket_broker: str
) -> None:
    database_url = database_url_over_socket()
    lan_address = lab.lan_address()  # the seeds' 192.168.1.131: routed to the host, dropped
    dev = network_row(lab, "backend-dev", host_addresses=lan_address)
    prod = network_row(lab, "backend-prod")
    reach, isolated = Expectation.REACHABLE, Expectation.UNREACHABLE
    litellm_address = lab.networks["backend-dev"].names["litellm"]

    liveliness = "litellm_liveliness"
    by_name = target(
        "LiteLLM by name",
        "http://litellm:4000/health/liveliness",
        liveliness,
        backend_dev=reach,
        backend_prod=reach,
    )
    by_address = target(
        "LiteLLM by dev address", f"http://{litellm_address}:4000/health/liveliness", backend_prod=isolated
    )
    via_localhost = target(
        "LiteLLM via localhost", "http://localhost:4000/health/liveliness", liveliness, backend_dev=reach
    )
    # No preset: in seed 1 LiteLLM runs on the host, not as a container called litellm.
    via_lan = target(
        "LiteLLM via LAN address", f"http://{lan_address}:4000/health/liveliness", backend_dev=reach
    )

    workers = [
        CeleryWorker(
            database_url=database_url,
            broker_url=socket_broker,
            queues=[network.queue],
            hostname=f"{network.name}@lab",
            argv_prefix=["ip", "netns", "exec", lab.container(network.name)],
            # The cache would follow REDIS_URL; the sweep needs none.
            extra_env={"REDIS_URL": ""},
        )
        for network in (dev, prod)
    ]
    try:
        for worker in workers:
            worker.start()
        # What celery beat does with each network's entry: its task, to its queue.
        with Connection(socket_broker) as broker:
            for network in (dev, prod):
                entry = PeriodicTask.objects.get(name=sweep_task_name(network.name))
                app.send_task(
                    entry.task, kwargs=json.loads(entry.kwargs), queue=entry.queue, connection=broker
                )
        expected = TargetNetwork.objects.filter(network__in=[dev, prod]).count()
        deadline = time.monotonic() + 60
        while CheckResult.objects.filter(network__in=[dev, prod]).count() < expected:
            if time.monotonic() > deadline:
                pytest.fail("the sweeps did not finish:\n" + "\n----\n".join(w.log() for w in workers))
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()

    def result(row: Target, network: Network) -> CheckResult:
        return CheckResult.objects.get(target=row, network=network)

    def state(row: Target, network: Network) -> TargetNetwork:
        return TargetNetwork.objects.get(target=row, network=network)

    # Each network's sweep ran in the worker inside that network.
    assert WorkerHeartbeat.objects.get(queue=dev.queue).hostname == "backend-dev@lab"
    assert WorkerHeartbeat.objects.get(queue=prod.queue).hostname == "backend-prod@lab"

    # A service reachable from one network and not from the other: its name does not resolve there.
    from_dev, from_prod = result(by_name, dev), result(by_name, prod)
    assert from_dev.ok and from_dev.resolved_addresses == [litellm_address]
    assert state(by_name, dev).state == State.UP
    assert (from_prod.ok, from_prod.error_kind, from_prod.diagnosis_kind) == (
        False,
        "dns_failure",
        "name_not_on_network",
    )
    assert "docker network connect backend-prod litellm" in from_prod.suggested_fix
    assert state(by_name, prod).state == State.DOWN

    # ...and by its address prod gets nothing, as an isolation check requires.
    isolation = result(by_address, prod)
    assert (isolation.ok, isolation.answered, isolation.diagnosis_kind) == (True, False, "isolated")

    # localhost inside a container is the container itself; the service name answers.
    loopback = result(via_localhost, dev)
    assert (loopback.error_kind, loopback.diagnosis_kind) == ("refused", "loopback_in_container")
    assert state(via_localhost, dev).last_working_address == "http://litellm:4000/health/liveliness"

    # The LAN address nobody answers from the container: a timeout, and host.docker.internal works.
    lan = result(via_lan, dev)
    assert (lan.error_kind, lan.phase, lan.diagnosis_kind) == (
        "timeout",
        "connect",
        "lan_address_from_container",
    )
    working = [a["address"] for a in lan.alternatives if a["ok"]]
    # The finder guesses LiteLLM's own name from port and path first (it runs in dev too).
    assert working[:2] == [
        "http://litellm:4000/health/liveliness",
        "http://host.docker.internal:4000/health/liveliness",
    ]
    assert state(via_lan, dev).last_working_address == working[0]
    assert working[0] in lan.suggested_fix
