"""Budgets people type into the key and plan forms: a plain amount above 0 that fits, a soft
budget no higher than the max budget, and (on a key) not below what it already spent; every
refusal a sentence naming the field, never a 500, nothing saved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm.forms import KeyChangeForm, KeyPlanForm
from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
from portal.accounts.models import User

pytestmark = pytest.mark.django_db

BAD_BUDGETS = [
    ("-1", "Max budget must be more than 0"),
    ("0", "Max budget must be more than 0; a budget of 0 stops every call"),
    ("0.0000", "Max budget must be more than 0"),
    ("100000000", "Max budget can be at most 99,999,999.9999 US dollars."),
    ("1" * 400, "Max budget can be at most"),
    ("12.34567", "Max budget takes at most 4 decimal places."),
    ("ten", "Max budget must be a plain number of US dollars, such as 10 or 12.50."),
    ("NaN", "Max budget must be a plain number"),
    ("Infinity", "Max budget must be a plain number"),
    ("1e3", "Max budget must be a plain number"),
    ("10,5", "Max budget must be a plain number"),
    ("\u0661\u0660", "Max budget must be written with the digits 0-9"),  # Arabic-Indic 10
    ("\uff11\uff10", "Max budget must be written with the digits 0-9"),  # fullwidth 10
    ("\u0967\u0966.5", "Max budget must be written with the digits 0-9"),  # Devanagari 10.5
]


@pytest.mark.parametrize(("value", "words"), BAD_BUDGETS)
def test_a_plan_refuses_a_bad_max_budget_in_a_sentence_naming_it(value: str, words: str) -> None:
    form = KeyPlanForm(data={"name": "plan", "max_budget": value})
    assert not form.is_valid()
    assert words in " ".join(str(message) for message in form.errors["max_budget"])


@pytest.mark.parametrize("value", ["10", "12.5", " 7.25 ", "0.0001", "99999999.9999", "5."])
def test_a_plan_takes_plain_amounts(value: str) -> None:
    form = KeyPlanForm(data={"name": "plan", "max_budget": value})
    assert form.is_valid(), form.errors
    assert form.save().max_budget == Decimal(value.strip())


def test_a_soft_budget_above_the_max_budget_is_refused() -> None:
    form = KeyPlanForm(data={"name": "plan", "max_budget": "10", "soft_budget": "12"})
    assert not form.is_valid()
    assert form.errors["soft_budget"] == [
        "Soft budget (12) is above the max budget (10): the alert would come after the key is stopped."
    ]
    assert KeyPlanForm(data={"name": "plan", "max_budget": "10", "soft_budget": "10"}).is_valid()


def test_a_soft_budget_is_read_like_a_max_budget() -> None:
    form = KeyPlanForm(data={"name": "plan", "soft_budget": "-3"})
    assert not form.is_valid()
    assert "Soft budget must be more than 0" in form.errors["soft_budget"][0]


def spent_key() -> VirtualKey:
    server = LiteLLMServer(name="dev", base_url="http://litellm:4000")
    server.master_key = "sk-" + "m" * 30
    server.save()
    return VirtualKey.objects.create(
        server=server, key_alias="bot", max_budget=Decimal("10"), spend=Decimal("9.5"), status="active"
    )


def change_data(key: VirtualKey, **overrides: str) -> dict[str, str]:
    data = {"key_alias": key.key_alias, "owner": "", "max_budget": "10", "soft_budget": ""}
    data.update(overrides)
    return data


def test_a_keys_budget_below_what_it_spent_is_refused_with_the_way_to_stop_it() -> None:
    key = spent_key()
    form = KeyChangeForm(data=change_data(key, max_budget="5"), instance=key)
    assert not form.is_valid()
    assert form.errors["max_budget"] == [
        "Max budget (5) is below what the key has already spent in this budget period (9.5): it would "
        "stop at once. To stop the key, block it."
    ]
    assert KeyChangeForm(data=change_data(key, max_budget="9.5"), instance=key).is_valid()


def test_an_unchanged_budget_below_spend_is_not_in_the_way_of_other_changes() -> None:
    key = spent_key()
    VirtualKey.objects.filter(pk=key.pk).update(spend=Decimal("12"))  # LiteLLM let it run over
    key.refresh_from_db()
    form = KeyChangeForm(data=change_data(key, key_alias="bot-2"), instance=key)
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(("value", "words"), BAD_BUDGETS[:3] + BAD_BUDGETS[-3:])
def test_the_admin_answers_bad_budgets_with_the_sentence_never_a_500(value: str, words: str) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x"))
    response = client.post(reverse("admin:litellm_keyplan_add"), {"name": "plan", "max_budget": value})
    assert response.status_code == 200
    assert words.replace("'", "&#x27;") in response.content.decode()
    assert not KeyPlan.objects.exists()
