"""Alert channels: addresses checked before they are saved, and a test alert on demand."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.celery import app
from portal.connectivity import alerts
from portal.connectivity.models import Alert, AlertChannel, AlertDelivery
from tests.mailbox import deliver_queued_mail, portal_mail
from tests.webhook_listener import WebhookReceiver
from tests.workers import CeleryWorker

pytestmark = pytest.mark.django_db


def channel_form(**fields: str) -> dict[str, str]:
    return {"name": "ops", "kind": "email", "email_to": "", "new_webhook_url": "", "enabled": "on", **fields}


def webhook_channel(url: str) -> AlertChannel:
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = url
    channel.save()
    return channel


def test_it_refuses_an_address_that_is_not_one_and_names_it() -> None:
    channel = AlertChannel(name="ops", kind="email", email_to="oncall@example.com, ops at example dot com")
    with pytest.raises(ValidationError) as refused:
        channel.full_clean()
    [message] = refused.value.message_dict["email_to"]
    assert "'ops at example dot com' is not a usable address" in message


def test_it_stores_each_address_in_its_canonical_form_once() -> None:
    channel = AlertChannel(
        name="ops", kind="email", email_to=" Ops@Example.COM,ops@example.com\noncall@例え.jp"
    )
    channel.full_clean()
    assert channel.recipients == ["ops@example.com", "oncall@xn--r8jz45g.jp"]


def test_the_admin_answers_a_bad_address_with_a_sentence_and_saves_nothing(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_add"), channel_form(email_to="ops at example dot com")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "is not a usable address" in errors["email_to"][0]
    assert not AlertChannel.objects.exists()


def test_the_admin_refuses_a_webhook_that_is_not_http(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_add"),
        channel_form(name="slack", kind="webhook", new_webhook_url="ftp://hooks.example.com/x"),
    )
    assert response.status_code == 200
    assert (
        "is not an http:// or https:// address"
        in response.context["adminform"].form.errors["new_webhook_url"][0]
    )
    assert not AlertChannel.objects.exists()


def test_the_channel_page_sends_a_test_alert_through_the_webhook(
    admin_client: Client,
    webhook: WebhookReceiver,
    start_worker: Callable[[], CeleryWorker],
) -> None:
    start_worker()  # the worker that delivers real alerts sends the test too
    channel = webhook_channel(webhook.url)
    page = admin_client.get(reverse("admin:connectivity_alertchannel_change", args=[channel.pk]))
    test_url = reverse("admin:connectivity_alertchannel_test", args=[channel.pk])
    assert test_url in page.content.decode()

    response = admin_client.post(test_url, follow=True)

    [(path, payload)] = webhook.posts
    assert path == "/services/T000/B000/secret-token-xyz"
    assert payload["kind"] == "test" and "test alert" in payload["text"]
    assert "posted to slack" in response.content.decode()
    # A test is not a change: nothing in the alert history, nothing pending.
    assert not Alert.objects.exists() and not AlertDelivery.objects.exists()


def test_a_failed_test_alert_says_so_without_the_webhook_url(
    admin_client: Client, unused_tcp_port: int, start_worker: Callable[[], CeleryWorker]
) -> None:
    start_worker()
    channel = webhook_channel(f"http://127.0.0.1:{unused_tcp_port}/services/T0/B0/secret-token-xyz")

    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_test", args=[channel.pk]), follow=True
    )

    page = response.content.decode()
    assert "The test alert to slack failed" in page
    assert "secret-token" not in page and str(unused_tcp_port) not in page


def test_the_admin_action_mails_a_test_alert_to_each_chosen_channel(
    admin_client: Client, start_worker: Callable[[], CeleryWorker]
) -> None:
    start_worker()
    ops = AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    AlertChannel.objects.create(name="other", kind="email", email_to="other@example.com")

    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_changelist"),
        {"action": "send_test_alert", "_selected_action": [ops.pk], "post": "yes"},
        follow=True,
    )

    # The worker wrote it to the outbox (and its own mail backend sends it): one, to ops only.
    [email] = portal_mail()
    assert email.to == ["ops@example.com"] and "test alert" in email.subject
    assert "in the outbox for ops@example.com" in response.content.decode()


def test_with_no_worker_a_test_alert_says_it_waits_and_the_web_process_posts_nothing(
    admin_client: Client,
    webhook: WebhookReceiver,
) -> None:
    """The web process never posts to a staff-entered URL: with no worker the test waits in the
    queue, and the page says so within seconds."""
    channel = webhook_channel(webhook.url)
    started = time.monotonic()
    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_test", args=[channel.pk]), follow=True
    )
    assert time.monotonic() - started < 8
    assert "waits in queue default: no worker consumes it" in response.content.decode()
    assert webhook.posts == []
    _purge_default_queue()


def _purge_default_queue() -> None:
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        channel.queue_purge("default")


def test_a_test_alert_is_a_post(admin_client: Client) -> None:
    channel = AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    response = admin_client.get(reverse("admin:connectivity_alertchannel_test", args=[channel.pk]))
    assert response.status_code == 405 and not deliver_queued_mail()


def test_a_channel_saved_before_addresses_were_checked_fails_its_test_with_a_sentence() -> None:
    # Rows saved before this check could hold no address at all; the test says so, not a 500.
    channel = AlertChannel.objects.create(name="ops", kind="email", email_to="")
    assert (
        alerts.alert_test_send(channel) == "The test alert to ops failed: the email channel has no address."
    )
