"""A worker that serves several networks going silent is one alert per channel naming each;
distinct workers still alert separately (the vantage rule of vantage.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.connectivity import alerts, workers
from portal.connectivity.models import Alert, AlertChannel, MuteWindow, Network
from portal.models import WorkerHeartbeat
from tests.connectivity.factories import make_network
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db


def heard(network: Network, worker: str) -> None:
    # The real path: the heartbeat task's service records the worker and the facts it sees.
    workers.worker_report(network=network, hostname=worker)


def silent_for(minutes: int) -> None:
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=minutes))


def ours(raised: list[Alert], *networks: Network) -> list[Alert]:
    # The seeded networks have their own (never-heard) workers: only ours are looked at.
    return [a for a in raised if a.network in networks]


@pytest.fixture
def two_networks() -> tuple[Network, Network]:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    return make_network("lab-back"), make_network("lab-front")


def test_one_worker_serving_two_networks_going_silent_alerts_once_naming_both(
    two_networks: tuple[Network, Network],
) -> None:
    backend, frontend = two_networks
    heard(backend, "celery@laptop")
    heard(frontend, "celery@laptop")
    silent_for(10)

    sent, recorded = ours(workers.network_workers_check(), backend, frontend)

    assert (sent.network, recorded.network) == (backend, frontend)
    assert sent.kind == recorded.kind == Alert.Kind.WORKER_SILENT
    assert sent.not_sent_because == ""
    assert "no worker on lab-back and lab-front since " in sent.message
    assert "(one worker, celery@laptop, served them all)" in sent.message
    assert recorded.not_sent_because == (
        "Not sent: lab-front and lab-back are served by the same worker (celery@laptop) with the "
        "same network facts; the alert sent for lab-back names each."
    )
    alerts.alerts_deliver()
    [email] = [m for m in deliver_queued_mail() if "lab-back" in m.body]
    assert "lab-front" in email.body
    assert not ours(workers.network_workers_check(), backend, frontend)  # still silent: told already

    WorkerHeartbeat.objects.update(seen_at=timezone.now())
    back, back_recorded = ours(workers.network_workers_check(), backend, frontend)
    assert back.kind == Alert.Kind.WORKER_BACK and back.message.startswith(
        "a worker is back on lab-back and lab-front"
    )
    assert back.not_sent_because == "" and back_recorded.not_sent_because.startswith(
        "Not sent: lab-front and"
    )
    for network in (backend, frontend):
        network.refresh_from_db()
        assert network.worker_silent_since is None


def test_distinct_workers_going_silent_alert_separately(two_networks: tuple[Network, Network]) -> None:
    backend, frontend = two_networks
    heard(backend, "celery@backend-worker")
    heard(frontend, "celery@frontend-worker")
    silent_for(10)

    raised = ours(workers.network_workers_check(), backend, frontend)

    assert [(a.network, a.not_sent_because) for a in raised] == [(backend, ""), (frontend, "")]
    assert "no worker on lab-back since" in raised[0].message
    assert "no worker on lab-front since" in raised[1].message
    assert alerts.alerts_deliver() == 2


def test_a_network_whose_worker_never_reported_alerts_for_itself(
    two_networks: tuple[Network, Network],
) -> None:
    backend, frontend = two_networks
    heard(backend, "celery@laptop")
    WorkerHeartbeat.objects.create(queue=frontend.queue, hostname="celery@laptop", seen_at=timezone.now())
    silent_for(10)  # frontend has a heartbeat but no facts: no vantage point to share

    raised = ours(workers.network_workers_check(), backend, frontend)

    assert [a.not_sent_because for a in raised] == ["", ""]


def test_a_muted_network_lets_its_unmuted_sibling_send_the_alert(
    two_networks: tuple[Network, Network],
) -> None:
    backend, frontend = two_networks
    now = timezone.now()
    MuteWindow.objects.create(
        network=backend, starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
    )
    heard(backend, "celery@laptop")
    heard(frontend, "celery@laptop")
    silent_for(10)

    sent, muted = ours(workers.network_workers_check(), backend, frontend)  # the sender first

    assert sent.network == frontend and sent.not_sent_because == ""
    assert muted.network == backend
    assert muted.not_sent_because.startswith("Not sent: lab-back is muted until ")
    assert alerts.alerts_deliver() == 1
