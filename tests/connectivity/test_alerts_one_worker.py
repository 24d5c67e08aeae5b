"""The issue's "done when", with real parts: one Celery worker consuming both networks' queues
(as under `make run`), a real webhook listener and a real SMTP server. One outage seen by that
worker from two networks, then that worker going silent, each reach every channel exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.celery import app
from portal.connectivity import alerts, workers
from portal.connectivity.models import Alert, AlertChannel, AlertDelivery, Network, Target
from portal.core import mail
from portal.models import MailStatus, OutgoingMail
from tests.connectivity.factories import make_network, make_target
from tests.smtp_listener import LoopbackSMTP
from tests.webhook_listener import WebhookReceiver
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = pytest.mark.slow


@pytest.fixture
def smtp() -> Iterator[LoopbackSMTP]:
    server = LoopbackSMTP().start()
    server.answer()
    yield server
    server.stop()


def until(condition: Callable[[], bool], worker: CeleryWorker, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}; the worker's log:\n{worker.log()[-4000:]}")
        time.sleep(0.1)


def all_delivered() -> bool:
    return (
        not AlertDelivery.objects.filter(delivered_at__isnull=True).exists()
        and not OutgoingMail.objects.filter(status=MailStatus.WAITING).exists()
    )


def test_one_worker_for_two_networks_tells_each_channel_once(
    transactional_db: None,
    redis_url: str,
    refused_port: int,
    smtp: LoopbackSMTP,
    webhook: WebhookReceiver,
    settings: Any,
) -> None:
    AlertChannel.objects.create(name="ops mail", kind="email", email_to="ops@example.com")
    AlertChannel.objects.create(name="ops hook", kind="webhook", webhook_url=webhook.url)
    backend, frontend = make_network("lab-back"), make_network("lab-front")
    target = make_target(
        f"http://127.0.0.1:{refused_port}/health", backend, frontend, name="lab-db", failure_threshold=1
    )
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default", backend.queue, frontend.queue],
        hostname="celery@laptop",
        extra_env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", "EMAIL_TIMEOUT": "5"},
    )
    worker.start()
    try:
        # What the two beat entries do: both sweeps at once, in the one worker (concurrency 2).
        for network in (backend, frontend):
            app.send_task(
                "connectivity.network_sweep", kwargs={"network_id": network.pk}, queue=network.queue
            )
        until(lambda: Alert.objects.filter(target=target).count() == 2, worker, "both networks record DOWN")
        until(lambda: bool(webhook.posts) and bool(smtp.messages) and all_delivered(), worker, "delivery")
    finally:
        worker.stop()

    downs = Alert.objects.filter(target=target, kind=Alert.Kind.DOWN)
    assert sorted(bool(a.not_sent_because) for a in downs) == [False, True]
    [(_path, post)] = webhook.posts
    assert post["kind"] == "down" and post["target"] == "lab-db"
    [message] = smtp.messages
    assert "lab-db" in message

    # The worker is gone: both of its networks fall silent, told once per channel, naming both.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    later = timezone.now() + timedelta(seconds=max(backend.heartbeat_stale_after_seconds, 60) + 60)
    silent = [a for a in workers.network_workers_check(now=later) if a.network in (backend, frontend)]
    assert [a.kind for a in silent] == [Alert.Kind.WORKER_SILENT] * 2
    alerts.alerts_deliver()
    for queued in OutgoingMail.objects.filter(status=MailStatus.WAITING):
        mail.mail_send(mail_id=queued.pk)

    [_down, (_path, told)] = webhook.posts
    assert "no worker on lab-back and lab-front since" in told["text"] and "celery@laptop" in told["text"]
    assert len(smtp.messages) == 2 and "lab-front" in smtp.messages[1]


@pytest.fixture(autouse=True)
def _no_seeded_noise(transactional_db: None) -> None:
    # The seeded networks (backend-dev, backend-prod) have no worker here: their own silence
    # alerts would reach the channels too. Only the lab networks are under test.
    Network.objects.exclude(name__startswith="lab-").delete()
    Target.objects.filter(placements__isnull=True).delete()
