"""Amounts as people read them: cents, or a sub-cent's first figures, never a misleading 0.00."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm import keys
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from portal.core.money import dollars, usd
from tests.litellm.conftest import MASTER


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (0, "0.00"),
        (Decimal("0"), "0.00"),
        (Decimal("12.5"), "12.50"),
        (Decimal("0.125"), "0.13"),  # half up, as the templates' floatformat did
        (Decimal("1234.567"), "1234.57"),
        (Decimal("0.01"), "0.01"),
        (Decimal("0.001"), "0.001"),
        (Decimal("0.00042"), "0.00042"),
        (Decimal("0.000425"), "0.00043"),  # two figures
        (0.0099, "0.0099"),
        ("0.0000009", "under 0.000001"),
        (Decimal("-0.003"), "-0.003"),
        (None, ""),
    ],
)
def test_usd(amount: object, words: str) -> None:
    assert usd(amount) == words  # type: ignore[arg-type]
    if words:
        assert dollars(amount) == f"${words}"  # type: ignore[arg-type]


def test_a_key_that_spent_under_a_cent_says_how_much_on_the_list(db: None) -> None:
    server = LiteLLMServer(name="litellm-gone", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = MASTER
    server.save()
    key = keys.key_create(server=server, alias="cheap-model", enqueue=False)
    VirtualKey.objects.filter(pk=key.pk).update(spend=Decimal("0.00042"), max_budget=Decimal("0.001"))
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="a long pass 123"))
    page = client.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    assert "0.00042 / 0.001" in page and 'title="0.00042 of 0.001 USD"' in page
