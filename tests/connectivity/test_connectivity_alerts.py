"""Alerts: one per change, by email and JSON webhook; a silent network worker is an alert too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.connectivity import alerts, workers
from portal.connectivity.models import Alert, AlertChannel, AlertDelivery, Network
from portal.models import WorkerHeartbeat
from tests.connectivity.factories import make_network
from tests.mailbox import deliver_queued_mail
from tests.webhook_listener import WebhookReceiver

pytestmark = pytest.mark.django_db


def raise_alert(network: Network, message: str = "lab-db from lab is DOWN") -> Alert:
    return alerts.alert_raise(kind=Alert.Kind.DOWN, network=network, target=None, message=message)


def test_it_emails_an_alert_through_the_django_email_backend() -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com, oncall@example.com")
    network = make_network()
    raise_alert(network)

    assert alerts.alerts_deliver() == 1

    [email] = deliver_queued_mail()
    assert email.to == ["ops@example.com", "oncall@example.com"]
    assert network.name in email.subject and "DOWN" in email.body


def test_it_posts_slack_compatible_json_to_the_webhook(webhook: WebhookReceiver) -> None:
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = webhook.url
    channel.save()
    network = make_network()
    raise_alert(network, "lab-db from lab is DOWN: refused")

    assert alerts.alerts_deliver() == 1

    [(path, payload)] = webhook.posts
    assert path == "/services/T000/B000/secret-token-xyz"
    assert payload["text"] == "lab-db from lab is DOWN: refused"
    assert payload["network"] == network.name and payload["kind"] == "down"


def test_it_delivers_each_alert_once_per_channel(webhook: WebhookReceiver) -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = webhook.url
    channel.save()
    raise_alert(make_network())

    assert alerts.alerts_deliver() == 2
    assert alerts.alerts_deliver() == 0
    assert len(deliver_queued_mail()) == 1 and len(webhook.posts) == 1


def test_it_keeps_a_failed_webhook_pending_without_writing_its_url_down(unused_tcp_port: int) -> None:
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = f"http://127.0.0.1:{unused_tcp_port}/services/T0/B0/secret-token-xyz"
    channel.save()
    raise_alert(make_network())

    assert alerts.alerts_deliver() == 0

    delivery = AlertDelivery.objects.get(channel=channel)
    assert delivery.delivered_at is None and delivery.attempts == 1
    assert delivery.last_error and "secret-token" not in delivery.last_error
    assert str(unused_tcp_port) not in delivery.last_error


def test_it_gives_up_on_a_channel_after_a_few_attempts(unused_tcp_port: int) -> None:
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    channel.save()
    raise_alert(make_network())
    for _ in range(AlertDelivery.MAX_ATTEMPTS + 2):
        alerts.alerts_deliver()
    assert AlertDelivery.objects.get(channel=channel).attempts == AlertDelivery.MAX_ATTEMPTS


def test_it_skips_disabled_channels() -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com", enabled=False)
    raise_alert(make_network())
    assert alerts.alerts_deliver() == 0 and not deliver_queued_mail()


def test_it_alerts_once_when_a_network_worker_goes_silent_and_once_when_it_is_back() -> None:
    network = make_network("backend-silent", heartbeat_stale_after_seconds=180)
    last_seen = timezone.now() - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(queue=network.queue, hostname="w@prod", seen_at=last_seen)

    [silent] = [a for a in workers.network_workers_check() if a.network_id == network.pk]
    assert silent.kind == Alert.Kind.WORKER_SILENT
    assert f"no worker on backend-silent since {last_seen:%Y-%m-%d %H:%M:%S} UTC" in silent.message
    assert not [a for a in workers.network_workers_check() if a.network_id == network.pk]

    WorkerHeartbeat.objects.filter(queue=network.queue).update(seen_at=timezone.now())
    [back] = [a for a in workers.network_workers_check() if a.network_id == network.pk]
    assert back.kind == Alert.Kind.WORKER_BACK
    network.refresh_from_db()
    assert network.worker_silent_since is None


def test_it_gives_a_new_network_time_for_its_first_heartbeat() -> None:
    network = make_network()
    statuses = workers.worker_statuses(networks=[network])
    assert not statuses[network.pk].stale
    later = timezone.now() + timedelta(seconds=network.heartbeat_stale_after_seconds + 1)
    assert workers.worker_statuses(networks=[network], now=later)[network.pk].stale
