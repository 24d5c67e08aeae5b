"""Bad input to the alert settings an operator types: certificate thresholds (per target, per
network) and maintenance windows. Each is refused with a sentence, never a 500, nothing saved."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.connectivity.cert_thresholds import parse_tls_alert_days
from portal.connectivity.models import MuteWindow, Network, Target
from tests.connectivity.factories import make_network

pytestmark = pytest.mark.django_db

SENTENCE = "is not a number of days: use whole numbers from 1 to 365, written with the digits 0-9"

NOT_DAYS = [
    "9" * 5000,  # huge: int() itself would refuse it with its own message
    "1" * 30,
    "¹⁴",  # superscript: str.isdigit() says yes, int() says no
    "١٤",  # Arabic-Indic 14: int() reads it, the operator may not
    "\U0001d7cf\U0001d7d2, 7",  # mathematical bold 14
    "\uff11\uff14",  # fullwidth 14
    "14 7",
    "-",
    "0x1e",
]


@pytest.mark.parametrize("bad", NOT_DAYS)
def test_thresholds_in_look_alike_or_huge_digits_are_refused_with_a_sentence(bad: str) -> None:
    with pytest.raises(ValueError, match=SENTENCE):
        parse_tls_alert_days(bad)
    for row in (Target(name="x", address="https://example.com/", tls_alert_days=bad), Network(name="lab-x")):
        row.tls_alert_days = bad
        with pytest.raises(ValidationError) as refused:
            row.full_clean()
        assert any(SENTENCE in m for m in refused.value.message_dict["tls_alert_days"])


@pytest.mark.parametrize(
    ("text", "days"), [("", ()), (" , ", ()), ("7,30;14, 14", (30, 14, 7)), ("365", (365,))]
)
def test_empty_means_the_default_and_good_lists_are_read(text: str, days: tuple[int, ...]) -> None:
    assert parse_tls_alert_days(text) == days


def network_form(admin_client: Client, network: Network) -> dict[str, Any]:
    response = admin_client.get(reverse("admin:connectivity_network_change", args=[network.pk]))
    form = response.context["adminform"].form
    return {name: form[name].value() or "" for name in form.fields}


@pytest.mark.parametrize("bad", ["¹⁴", "9" * 49, "9" * 5000])
def test_the_network_admin_refuses_them_with_a_sentence_and_keeps_the_old_value(
    admin_client: Client, bad: str
) -> None:
    network = make_network(tls_alert_days="21")
    data = {**network_form(admin_client, network), "tls_alert_days": bad}
    response = admin_client.post(reverse("admin:connectivity_network_change", args=[network.pk]), data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["tls_alert_days"]
    assert SENTENCE in error or "at most 50 characters" in error
    network.refresh_from_db()
    assert network.tls_alert_days == "21"


def window(network: Network, **fields: str) -> dict[str, Any]:
    data = {
        "network": network.pk,
        "starts_at_0": "2026-12-02",
        "starts_at_1": "14:00:00",
        "ends_at_0": "2026-12-02",
        "ends_at_1": "16:00:00",
        "reason": "upgrade",
    }
    return {**data, **fields}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"starts_at_0": "", "starts_at_1": ""}, "starts_at", "This field is required."),
        ({"ends_at_0": "2026-13-45"}, "ends_at", "Enter a valid date."),
        ({"ends_at_0": "9" * 5000}, "ends_at", "Enter a valid date."),
        ({"ends_at_1": "25:99:00"}, "ends_at", "Enter a valid time."),
        ({"ends_at_0": "2026-12-02", "ends_at_1": "13:59:59"}, "ends_at", "ends before it starts"),
        ({"ends_at_1": "14:00:00"}, "ends_at", "ends before it starts"),  # a window of no time
        ({"reason": "x" * 5000}, "reason", "at most 200 characters"),
    ],
)
def test_the_admin_refuses_a_bad_window_with_a_sentence(
    admin_client: Client, fields: dict[str, str], field: str, words: str
) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_mutewindow_add"), window(make_network(), **fields)
    )
    assert response.status_code == 200
    assert words in " ".join(response.context["adminform"].form.errors[field])
    assert not MuteWindow.objects.exists()


def test_a_window_typed_in_look_alike_digits_is_refused_with_a_sentence(admin_client: Client) -> None:
    # "٢٠٢٦-١٢-٠٢" is 2026-12-02 in Arabic-Indic digits: refused, not read as some other date.
    response = admin_client.post(
        reverse("admin:connectivity_mutewindow_add"), window(make_network(), ends_at_0="٢٠٢٦-١٢-٠٢")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["ends_at"] == ["Enter a valid date."]
    assert not MuteWindow.objects.exists()
