"""Certificate expiry: days left on the dashboard, thresholds that alert once each, and
thresholds that are not numbers refused with a sentence."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.connectivity import alerts, checks
from portal.connectivity.models import Alert, AlertChannel, CertificateWarning, Network, Target
from portal.connectivity.probes import tls
from tests.connectivity.conftest import SelfSignedCert
from tests.connectivity.factories import make_network, make_target
from tests.lab_server import LabHTTPServer
from tests.mailbox import deliver_queued_mail
from tests.webhook_listener import WebhookReceiver

pytestmark = pytest.mark.django_db


def https_target(server: LabHTTPServer, *networks: Network, **fields: str) -> Target:
    # Self-signed: the chain is not what is tested here, the expiry date is.
    return make_target(
        f"https://127.0.0.1:{server.port}/health", *networks, name="lab-api", verify_tls=False, **fields
    )


def test_a_certificate_10_days_from_expiry_alerts_once(
    http_server: Callable[..., LabHTTPServer], cert_10_days: SelfSignedCert
) -> None:
    AlertChannel.objects.create(name="ops", kind="email", email_to="ops@example.com")
    server = http_server({"/health": (200, "OK")}, tls=cert_10_days.server_context())
    network = make_network("lab-tls")
    target = https_target(server, network)

    for _ in range(3):
        checks.target_check_now(target=target, network=network)

    [alert] = Alert.objects.filter(kind=Alert.Kind.CERT_EXPIRING)
    assert "lab-api" in alert.message and "expires in 9 days (alert at 14 days left)" in alert.message
    # 30 and 14 are both crossed: both recorded as told, so 30 never fires later; 7 is to come.
    assert sorted(CertificateWarning.objects.values_list("threshold_days", flat=True)) == [14, 30]
    alerts.alerts_deliver()
    [email] = deliver_queued_mail()
    assert "certificate" in email.subject and "expires in 9 days" in email.body


def test_the_targets_thresholds_win_over_the_networks(
    http_server: Callable[..., LabHTTPServer], cert_10_days: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=cert_10_days.server_context())
    network = make_network(tls_alert_days="60")
    quiet = https_target(server, network, tls_alert_days="5")
    checks.target_check_now(target=quiet, network=network)
    assert not Alert.objects.filter(kind=Alert.Kind.CERT_EXPIRING).exists()

    Target.objects.filter(pk=quiet.pk).update(tls_alert_days="")  # now the network's 60 applies
    quiet.refresh_from_db()
    checks.target_check_now(target=quiet, network=network)
    [alert] = Alert.objects.filter(kind=Alert.Kind.CERT_EXPIRING)
    assert "(alert at 60 days left)" in alert.message


def test_the_dashboard_shows_days_left(
    admin_client: Client, http_server: Callable[..., LabHTTPServer], cert_10_days: SelfSignedCert
) -> None:
    server = http_server({"/health": (200, "OK")}, tls=cert_10_days.server_context())
    network = make_network()
    checks.target_check_now(target=https_target(server, network), network=network)

    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()
    assert "certificate: 9 days left" in page


@pytest.mark.parametrize("bad", ["thirty", "30, -7", "0", "400", "14.5"])
def test_thresholds_that_are_not_days_are_refused_with_a_sentence(bad: str) -> None:
    target = Target(name="x", address="https://example.com/", tls_alert_days=bad)
    with pytest.raises(ValidationError) as refused:
        target.full_clean()
    [message] = refused.value.message_dict["tls_alert_days"]
    assert "is not a number of days: use whole numbers from 1 to 365" in message


def test_the_network_admin_refuses_bad_thresholds(admin_client: Client) -> None:
    network = make_network()
    response = admin_client.get(reverse("admin:connectivity_network_change", args=[network.pk]))
    form = response.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data["tls_alert_days"] = "soon"
    response = admin_client.post(reverse("admin:connectivity_network_change", args=[network.pk]), data)
    assert response.status_code == 200
    assert "'soon' is not a number of days" in response.context["adminform"].form.errors["tls_alert_days"][0]
    network.refresh_from_db()
    assert network.tls_alert_days == ""


def test_each_threshold_alerts_once_as_the_days_pass(
    http_server: Callable[..., LabHTTPServer],
    cert_10_days: SelfSignedCert,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 10 days left: 14 (and 30) told once; three days on, 7 told once; re-checks tell nothing.
    AlertChannel.objects.create(name="ops hook", kind="webhook", webhook_url=webhook.url)
    server = http_server({"/health": (200, "OK")}, tls=cert_10_days.server_context())
    network = make_network("lab-tls")
    target = https_target(server, network)

    def check_twice() -> None:
        for _ in range(2):
            checks.target_check_now(target=target, network=network)
        alerts.alerts_deliver()

    check_twice()

    class ThreeDaysOn(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> ThreeDaysOn:
            return super().now(tz) + datetime.timedelta(days=3)

    monkeypatch.setattr(tls, "datetime", ThreeDaysOn)  # only the certificate's clock moves on
    check_twice()

    told = [post["text"] for _path, post in webhook.posts]
    assert len(told) == 2, told
    assert "expires in 9 days (alert at 14 days left)" in told[0]
    assert "expires in 6 days (alert at 7 days left)" in told[1]
    assert sorted(CertificateWarning.objects.values_list("threshold_days", flat=True)) == [7, 14, 30]
