"""A person's spend per day (their key row's daily history, zero-filled) and the sentence
that says when the budget runs out or resets first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from integrations.litellm.models import KeySpend, SpendGrain, VirtualKey
from portal.access.models import PersonalKey
from portal.access.spend import DaySpend, budget_outlook, person_daily_spend
from portal.accounts.models import User
from tests.access.personal_keys.support import drive, key_of, make_pairing, make_ready_person
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

DEC_1 = dt.date(2026, 12, 1)


@pytest.mark.django_db
def test_a_persons_series_is_their_keys_daily_history_with_empty_days_as_zero(
    litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = User.objects.create_user(email="ann@example.com", password="portal pass 1", name="Ann")
    key = VirtualKey.objects.create(server=pairing.litellm_server, token_hash="a" * 64, key_alias="ann")
    other = VirtualKey.objects.create(server=pairing.litellm_server, token_hash="b" * 64, key_alias="bob")
    PersonalKey.objects.create(person=person, pairing=pairing, plan=pairing.default_plan, key=key)
    midnight = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    KeySpend.objects.create(key=key, grain=SpendGrain.DAY, bucket=midnight, amount=Decimal("1.25"))
    KeySpend.objects.create(key=key, grain=SpendGrain.DAY, bucket=midnight + dt.timedelta(days=2), amount=2)
    KeySpend.objects.create(key=key, grain=SpendGrain.HOUR, bucket=midnight, amount=9)  # not a day
    KeySpend.objects.create(key=other, grain=SpendGrain.DAY, bucket=midnight, amount=5)  # not hers
    series = person_daily_spend(person=person, since=DEC_1, until=dt.date(2026, 12, 4))
    assert [(d.day.day, d.amount) for d in series] == [
        (1, Decimal("1.25")),
        (2, Decimal(0)),
        (3, Decimal(2)),
        (4, Decimal(0)),
    ]


def days(*amounts: str) -> list[DaySpend]:
    return [DaySpend(DEC_1 + dt.timedelta(n), Decimal(a)) for n, a in enumerate(amounts)]


def test_at_this_rate_the_budget_lasts_until_a_date_before_the_reset() -> None:
    # 2 a day, 4 of 10 spent: 6 left lasts 3 more days.
    sentence = budget_outlook(
        spent=Decimal(4),
        max_budget=Decimal(10),
        reset_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        days=days("2", "2"),
        today=dt.date(2026, 12, 2),
    )
    assert sentence == "At this rate your budget lasts until 5 December 2026. It resets on 1 January 2027."


def test_the_budget_resets_before_it_runs_out() -> None:
    sentence = budget_outlook(
        spent=Decimal(1),
        max_budget=Decimal(10),
        reset_at=dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        days=days("0.5", "0.5"),
        today=dt.date(2026, 12, 2),
    )
    assert sentence == "At this rate your budget resets on 3 December 2026 before you run out."


def outlook(spent: str, max_budget: str | None) -> str:
    budget = Decimal(max_budget) if max_budget is not None else None
    return budget_outlook(spent=Decimal(spent), max_budget=budget, reset_at=None, days=days("0"), today=DEC_1)


def test_no_budget_used_up_and_nothing_spent_say_so() -> None:
    assert outlook("3", None) == "Your key has no budget limit."
    assert outlook("10", "10") == "Your budget is used up."
    assert outlook("0", "10") == "You have spent nothing this period; $10.00 of $10.00 left."


@pytest.mark.django_db
def test_me_shows_the_spend_chart_with_its_text_alternative(
    client: Client, litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    key = key_of(drive(PersonalKey.objects.get(person=person)))
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for back, amount in ((2, "0.75"), (0, "0.25")):
        KeySpend.objects.create(
            key=key, grain=SpendGrain.DAY, bucket=today - dt.timedelta(days=back), amount=Decimal(amount)
        )
    client.force_login(person)
    page = client.get("/me/").content.decode()
    assert "<svg" in page and '<title id="spend-svg-title">Spend per day, last 30 days</title>' in page
    assert "$1.00 spent in the last 30 days; the most on" in page
    assert page.count("<rect ") == 30 and f"<td>{today:%Y-%m-%d}</td><td>$0.25</td>" in page
    assert "At this rate your budget" in page
