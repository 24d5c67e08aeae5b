"""Maintenance windows: changes recorded but not sent while muted, shown on the dashboard, and a
window that ends before it starts refused with a sentence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.connectivity import alerts, checks
from portal.connectivity.models import Alert, AlertChannel, AlertDelivery, MuteWindow
from tests.connectivity.factories import make_network, make_target
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db


def test_a_window_that_ends_before_it_starts_is_refused_with_a_sentence() -> None:
    now = timezone.now()
    window = MuteWindow(network=make_network(), starts_at=now, ends_at=now - timedelta(minutes=1))
    with pytest.raises(ValidationError) as refused:
        window.full_clean()
    assert refused.value.message_dict["ends_at"] == [
        "The window ends before it starts: choose an end after the start."
    ]


def test_a_window_needs_a_target_or_a_network() -> None:
    now = timezone.now()
    with pytest.raises(ValidationError, match="Choose the target or the network"):
        MuteWindow(starts_at=now, ends_at=now + timedelta(hours=1)).full_clean()


def test_the_admin_refuses_a_backwards_window_and_saves_nothing(admin_client: Client) -> None:
    network = make_network()
    response = admin_client.post(
        reverse("admin:connectivity_mutewindow_add"),
        {
            "network": network.pk,
            "starts_at_0": "2026-12-02",
            "starts_at_1": "14:00:00",
            "ends_at_0": "2026-12-02",
            "ends_at_1": "13:00:00",
            "reason": "upgrade",
        },
    )
    assert response.status_code == 200
    assert "ends before it starts" in response.context["adminform"].form.errors["ends_at"][0]
    assert not MuteWindow.objects.exists()


def test_a_muted_target_sends_nothing_and_says_it_is_muted(admin_client: Client, refused_port: int) -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    network = make_network("lab-maint")
    target = make_target(
        f"http://127.0.0.1:{refused_port}/health", network, name="lab-db", failure_threshold=1
    )
    other = make_target(
        f"http://127.0.0.1:{refused_port}/other", network, name="lab-cache", failure_threshold=1
    )
    now = timezone.now()
    MuteWindow.objects.create(
        target=target,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        reason="DB upgrade",
    )

    checks.network_sweep(network=network, hostname="celery@lab")

    muted = Alert.objects.get(target=target)
    assert muted.kind == Alert.Kind.DOWN  # the change is recorded...
    assert muted.not_sent_because.startswith("Not sent: lab-db is muted until ")
    assert "(DB upgrade)" in muted.not_sent_because
    assert not AlertDelivery.objects.filter(alert=muted).exists()  # ...and not sent
    assert Alert.objects.get(target=other).not_sent_because == ""  # the other target still alerts
    alerts.alerts_deliver()
    [email] = deliver_queued_mail()
    assert "lab-cache" in email.body

    listing = admin_client.get(reverse("admin:connectivity_alert_changelist")).content.decode()
    assert '<span class="conn-not-sent">lab-db is muted until ' in listing  # the row says why
    assert listing.count('class="conn-not-sent"') == 1  # lab-cache's row was sent
    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()
    assert "Muted: lab-db until " in page and "(DB upgrade)" in page
    assert page.count("muted until ") == 1  # lab-db's cell, not lab-cache's


def test_a_network_window_mutes_its_worker_alerts_too() -> None:
    network = make_network()
    now = timezone.now()
    MuteWindow.objects.create(network=network, starts_at=now, ends_at=now + timedelta(hours=1))
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")

    alert = alerts.alert_raise(kind=Alert.Kind.WORKER_SILENT, network=network, target=None, message="silent")

    assert "is muted until" in alert.not_sent_because and not alert.deliveries.exists()


def test_changes_are_sent_again_once_the_window_has_ended() -> None:
    network = make_network()
    now = timezone.now()
    MuteWindow.objects.create(
        network=network, starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
    )
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")

    alert = alerts.alert_raise(kind=Alert.Kind.WORKER_SILENT, network=network, target=None, message="silent")

    assert alert.not_sent_because == "" and alert.deliveries.count() == 1
