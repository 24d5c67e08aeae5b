"""Alerts: one row per change worth hearing about, delivered once to each enabled channel."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.utils import timezone

from portal.connectivity.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    Network,
    Target,
)
from portal.connectivity.mutes import muted_because
from portal.core import mail
from portal.core.queues import DEFAULT_QUEUE, wake_after_commit

logger = logging.getLogger(__name__)


class ChannelIncomplete(ValueError):
    """The channel lacks what delivery needs; `str(self)` is a sentence safe to show."""


TEST_MESSAGE = "A test alert from the portal: this channel works. Nothing is wrong."


def alert_raise(
    *,
    kind: str,
    network: Network,
    target: Target | None,
    message: str,
    now: datetime | None = None,
    not_sent_because: str = "",
    mutable: bool = True,
) -> Alert:
    """Record one alert and one delivery per enabled channel; delivery runs on the default queue.

    With `not_sent_because`, or during a maintenance window (mutes.py), the change is recorded
    (the alerts list shows it, and why) but nothing is delivered. `mutable=False`: an alert
    that is not about the network's health (a budget) goes out through a maintenance window.
    """
    now = now or timezone.now()
    muted = muted_because(network=network, target=target, now=now) if mutable else ""
    not_sent_because = muted or not_sent_because
    alert = Alert.objects.create(
        kind=kind,
        network=network,
        target=target,
        message=message,
        created_at=now,
        not_sent_because=not_sent_because[:500],
    )
    if not_sent_because:
        return alert
    AlertDelivery.objects.bulk_create(
        AlertDelivery(alert=alert, channel=channel) for channel in AlertChannel.objects.filter(enabled=True)
    )

    # A broker that is down leaves the deliveries pending: the workers check delivers them.
    wake_after_commit("connectivity.alerts_deliver", kwargs={}, queue=DEFAULT_QUEUE)
    return alert


def alerts_deliver(*, limit: int = 100) -> int:
    """Send pending deliveries. Each is claimed under SKIP LOCKED, so none goes out twice."""
    sent = 0
    pending_ids = list(
        AlertDelivery.objects.filter(delivered_at__isnull=True, attempts__lt=AlertDelivery.MAX_ATTEMPTS)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in pending_ids:
        with transaction.atomic():
            delivery = (
                AlertDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("alert__network", "alert__target", "channel")
                .filter(pk=delivery_id, delivered_at__isnull=True)
                .first()
            )
            if delivery is None:
                continue
            delivery.attempts += 1
            try:
                _deliver(delivery.alert, delivery.channel)
            except Exception as exc:
                delivery.last_error = _delivery_error(exc)
                logger.warning(
                    "alert %s to channel %s failed: %s",
                    delivery.alert_id,
                    delivery.channel_id,
                    delivery.last_error,
                )
            else:
                delivery.delivered_at = timezone.now()
                delivery.last_error = ""
                sent += 1
            delivery.save(update_fields=["attempts", "delivered_at", "last_error"])
    return sent


def alert_test_send(channel: AlertChannel) -> str | None:
    """Send one test alert to `channel` now, through the same delivery as a real one.

    Returns None when it went out (an email: handed to the outbox), else a sentence saying why
    not, without the webhook URL. Nothing is recorded as an Alert: a test is not a change.
    """
    try:
        _send(
            channel,
            subject="[portal] test alert",
            text=TEST_MESSAGE,
            facts={"kind": "test", "network": None, "target": None, "created_at": timezone.now().isoformat()},
        )
    except Exception as exc:
        return f"The test alert to {channel.name} failed: {_delivery_error(exc)}."
    return None


def _deliver(alert: Alert, channel: AlertChannel) -> None:
    _send(
        channel,
        subject=f"[portal] {alert.network.name}: {alert.get_kind_display()}"
        + (f" {alert.target.name}" if alert.target else ""),
        text=alert.message,
        facts={
            "kind": alert.kind,
            "network": alert.network.name,
            "target": alert.target.name if alert.target else None,
            "created_at": alert.created_at.isoformat(),
        },
    )


def _send(channel: AlertChannel, *, subject: str, text: str, facts: dict[str, str | None]) -> None:
    if channel.kind == AlertChannel.Kind.EMAIL:
        if not channel.recipients:
            raise ChannelIncomplete("the email channel has no address")
        # Handed to the outbox, which retries a failing mail server itself (portal/mail.py).
        mail.alert(recipients=channel.recipients, subject=subject, body=text)
        return
    if not channel.webhook_url:
        raise ChannelIncomplete("the webhook channel has no URL")
    from integrations.http import VendorHTTP

    # VendorHTTP joins base and path with "/": split the URL so a hook's exact path is kept.
    parts = urlsplit(channel.webhook_url.reveal())
    path = urlunsplit(("", "", parts.path, parts.query, "")) or "/"
    client = VendorHTTP(
        vendor="webhook", base_url=f"{parts.scheme}://{parts.netloc}", connect_retries=1, read_retries=0
    )
    try:
        # `text` is what Slack (and Mattermost, Discord's /slack) shows.
        client.request("POST", path, json_body={"text": text, **facts}, timeout=10.0)
    finally:
        client.close()


def _delivery_error(exc: Exception) -> str:
    """A reason without the webhook URL: that URL is the channel's secret."""
    from integrations.http import VendorError

    if isinstance(exc, ChannelIncomplete):
        return str(exc)
    if isinstance(exc, VendorError):
        return f"{type(exc).__name__} ({exc.kind}{f', HTTP {exc.status}' if exc.status else ''})"
    return f"{type(exc).__name__}"[:300]
