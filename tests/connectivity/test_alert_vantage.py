"""One outage seen by one worker for two networks is told once per channel; distinct vantage
points still tell their own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from portal.connectivity import alerts, checks
from portal.connectivity.models import Alert, AlertChannel, Network, Target
from tests.connectivity.factories import make_network, make_target
from tests.lab_server import LabHTTPServer
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db


def two_networks_and_a_target(address: str) -> tuple[Network, Network, Target]:
    backend, frontend = make_network("lab-back"), make_network("lab-front")
    target = make_target(address, backend, frontend, name="lab-db", failure_threshold=1)
    return backend, frontend, target


def sweep(network: Network, worker: str) -> None:
    # The real path: a sweep records the worker's heartbeat and the facts it sees, then checks.
    checks.network_sweep(network=network, hostname=worker)


def due_again(target: Target) -> None:
    target.placements.update(next_check_at=None)


def test_one_worker_serving_two_networks_alerts_once_per_channel(
    refused_port: int, http_server: Callable[..., LabHTTPServer]
) -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    backend, frontend, target = two_networks_and_a_target(f"http://127.0.0.1:{refused_port}/health")

    sweep(backend, "celery@laptop")
    sweep(frontend, "celery@laptop")

    # Both columns record the change; one of them is told.
    [sent, recorded] = Alert.objects.filter(target=target, kind=Alert.Kind.DOWN).order_by("id")
    assert (sent.network, recorded.network) == (backend, frontend)
    assert sent.not_sent_because == ""
    assert "from lab-back too, seen by the same worker (celery@laptop)" in recorded.not_sent_because
    assert alerts.alerts_deliver() == 1
    [email] = deliver_queued_mail()
    assert "lab-db from lab-back is DOWN" in email.body

    server = http_server({"/health": (200, "OK")})
    Target.objects.filter(pk=target.pk).update(address=f"http://127.0.0.1:{server.port}/health")
    due_again(target)
    sweep(frontend, "celery@laptop")
    sweep(backend, "celery@laptop")

    ups = list(Alert.objects.filter(target=target, kind=Alert.Kind.UP).order_by("id"))
    assert [a.network for a in ups] == [frontend, backend]
    assert [bool(a.not_sent_because) for a in ups] == [False, True]
    assert alerts.alerts_deliver() == 1
    [_down, back] = deliver_queued_mail()  # the whole outbox: the outage, then its end
    assert "lab-db from lab-front" in back.body


def test_two_workers_alert_separately(refused_port: int) -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    backend, frontend, target = two_networks_and_a_target(f"http://127.0.0.1:{refused_port}/health")

    sweep(backend, "celery@backend-worker")
    sweep(frontend, "celery@frontend-worker")

    assert list(Alert.objects.filter(target=target).values_list("not_sent_because", flat=True)) == ["", ""]
    assert alerts.alerts_deliver() == 2 and len(deliver_queued_mail()) == 2


def test_a_second_outage_is_told_again(refused_port: int, http_server: Callable[..., LabHTTPServer]) -> None:
    # The guard is the siblings' state, not a time window: a new outage after recovery is news.
    backend, frontend, target = two_networks_and_a_target(f"http://127.0.0.1:{refused_port}/health")
    server = http_server({"/health": (200, "OK")})
    refused, answers = f"http://127.0.0.1:{refused_port}/health", f"http://127.0.0.1:{server.port}/health"
    for address, first, second in (
        (refused, backend, frontend),
        (answers, backend, frontend),
        (refused, frontend, backend),
    ):
        Target.objects.filter(pk=target.pk).update(address=address)
        due_again(target)
        sweep(first, "celery@laptop")
        sweep(second, "celery@laptop")

    sent = Alert.objects.filter(target=target, not_sent_because="").order_by("id")
    assert [(a.kind, a.network.name) for a in sent] == [
        ("down", "lab-back"),
        ("up", "lab-back"),
        ("down", "lab-front"),
    ]
    assert Alert.objects.filter(target=target).count() == 6


def test_the_alerts_list_says_which_were_not_sent_and_why(admin_client: Client, refused_port: int) -> None:
    backend, frontend, _target = two_networks_and_a_target(f"http://127.0.0.1:{refused_port}/health")
    sweep(backend, "celery@laptop")
    sweep(frontend, "celery@laptop")
    recorded = Alert.objects.get(network=frontend)

    listing = admin_client.get(reverse("admin:connectivity_alert_changelist")).content.decode()
    assert listing.count('alt="False"') == 1 and listing.count('alt="True"') == 1
    page = admin_client.get(reverse("admin:connectivity_alert_change", args=[recorded.pk])).content.decode()
    assert "seen by the same worker (celery@laptop)" in page
