"""A real worker consuming one network's queue runs that network's sweeps and "Check now"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from portal.celery import app
from portal.connectivity import admin_check_now as connectivity_admin
from portal.connectivity.facts import NetworkFacts
from portal.connectivity.models import CheckResult, Network, State
from portal.connectivity.schedules import heartbeat_task_name, sweep_task_name
from portal.models import WorkerHeartbeat
from tests.connectivity.factories import make_network, make_target, placement
from tests.lab_server import LabHTTPServer
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = pytest.mark.slow


@pytest.fixture
def network(transactional_db: None) -> Network:
    return make_network()


@pytest.fixture
def network_worker(network: Network, redis_url: str) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=[network.queue],
        hostname=f"{network.name}@test",
    )
    worker.start()
    yield worker
    worker.stop()


def fire_beat_entry(name: str) -> None:
    """What celery beat does with an entry: send its task to its queue with its kwargs."""
    entry = PeriodicTask.objects.get(name=name)
    app.send_task(entry.task, kwargs=json.loads(entry.kwargs), queue=entry.queue)


def wait_for(condition: Callable[[], bool], worker: CeleryWorker, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"nothing happened in {seconds} s; the worker's log:\n{worker.log()}")


def test_it_runs_the_networks_sweep_in_the_worker_on_its_queue(
    network: Network, network_worker: CeleryWorker, http_server: Callable[..., LabHTTPServer]
) -> None:
    server = http_server({"/health": (200, "OK")})
    target = make_target(f"http://127.0.0.1:{server.port}/health", network)

    fire_beat_entry(sweep_task_name(network.name))
    wait_for(lambda: CheckResult.objects.filter(target=target).exists(), network_worker)

    assert CheckResult.objects.get(target=target).ok
    assert placement(target, network).state == State.UP
    assert WorkerHeartbeat.objects.get(queue=network.queue).hostname == f"{network.name}@test"


def test_it_records_the_networks_heartbeat_from_its_beat_entry(
    network: Network, network_worker: CeleryWorker
) -> None:
    fire_beat_entry(heartbeat_task_name(network.queue))
    wait_for(lambda: WorkerHeartbeat.objects.filter(queue=network.queue).exists(), network_worker)
    # With it, the worker's report of what it sees (here: this machine's own network).
    wait_for(lambda: Network.objects.get(pk=network.pk).facts_seen_at is not None, network_worker)
    reported = Network.objects.get(pk=network.pk).facts
    assert reported is not None and reported.hostname and reported.location_reason
    assert reported.subnets == NetworkFacts.gather().subnets


def test_it_checks_now_from_the_admin_through_the_networks_worker(
    network: Network,
    network_worker: CeleryWorker,
    http_server: Callable[..., LabHTTPServer],
    admin_client: Client,
) -> None:
    server = http_server({"/health": (200, "OK")})
    target = make_target(f"http://127.0.0.1:{server.port}/health", network)

    response = admin_client.post(reverse("admin:connectivity_target_check_now", args=[target.pk]))

    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"{network.name}: ok, state up" in message
    assert CheckResult.objects.filter(target=target, network=network).count() == 1
    entry = LogEntry.objects.get(object_id=str(target.pk))
    assert "Check now" in entry.change_message


def test_it_shows_check_now_as_pending_when_no_worker_consumes_the_network_queue(
    network: Network, celery_worker: CeleryWorker, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connectivity_admin, "CHECK_NOW_WAIT_SECONDS", 1.0)
    target = make_target("http://litellm:4000/health/liveliness", network)

    response = admin_client.post(
        reverse("admin:connectivity_target_changelist"),
        {"action": "check_now", "_selected_action": [target.pk], "post": "yes"},
    )

    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    # Said from the task's state and the heartbeats: nobody took it, no worker heard there.
    assert (
        f"pending, no answer yet: waiting in the queue {network.queue}: no worker heard on it ever" in message
    )
    assert not CheckResult.objects.filter(target=target).exists()  # the default worker left it alone


def test_check_now_on_many_targets_returns_at_once_and_its_progress_page_follows_the_worker(
    network: Network,
    network_worker: CeleryWorker,
    http_server: Callable[..., LabHTTPServer],
    silent_port: int,
    admin_client: Client,
) -> None:
    server = http_server({"/health": (200, "OK")})
    fine = make_target(f"http://127.0.0.1:{server.port}/health", network, name="fine")
    slow = make_target(f"http://127.0.0.1:{silent_port}/health", network, name="slow", timeout_seconds=3.0)
    chosen = {"action": "check_now", "_selected_action": [fine.pk, slow.pk]}
    asked = admin_client.post(reverse("admin:connectivity_target_changelist"), chosen)
    assert "Check now from every network?" in asked.content.decode()  # asks first
    assert not CheckResult.objects.exists()

    started = time.monotonic()
    response = admin_client.post(reverse("admin:connectivity_target_changelist"), {**chosen, "post": "yes"})
    assert response.status_code == 302 and time.monotonic() - started < 2  # no 10 s freeze
    fragment = response["Location"] + "?fragment=1"
    # While the silent target holds its probe, the page blames the target, not the worker.
    wait_for(
        lambda: (
            "took it and is waiting for the target to answer" in admin_client.get(fragment).content.decode()
        ),
        network_worker,
    )
    wait_for(lambda: 'data-done="1"' in admin_client.get(fragment).content.decode(), network_worker)
    text = admin_client.get(fragment).content.decode()
    assert "2 of 2" in text and "(1 failed)" in text
    assert CheckResult.objects.filter(target=fine, ok=True).exists()
    assert CheckResult.objects.filter(target=slow, ok=False).exists()
