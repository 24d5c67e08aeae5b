"""A person's spend per day (their key row's daily history, zero-filled), the forecast that says
when the budget runs out or resets first, and the /me/ chart of this budget period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from integrations.litellm.models import KeySpend, SpendGrain, VirtualKey
from integrations.litellm.spend_forecast import Outlook, budget_forecast
from integrations.litellm.spend_series import key_daily_spend
from portal.access.models import PersonalKey
from portal.access.spend import person_outlook
from portal.accounts.models import User
from tests.access.personal_keys.support import drive, key_of, make_pairing, make_ready_person
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

DEC_1 = dt.date(2026, 12, 1)
UTC = dt.UTC
JAN_1 = dt.datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_a_persons_series_is_their_keys_daily_history_with_empty_days_as_zero(
    litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = User.objects.create_user(email="ann@example.com", password="portal pass 1", name="Ann")
    key = VirtualKey.objects.create(server=pairing.litellm_server, token_hash="a" * 64, key_alias="ann")
    other = VirtualKey.objects.create(server=pairing.litellm_server, token_hash="b" * 64, key_alias="bob")
    PersonalKey.objects.create(person=person, pairing=pairing, plan=pairing.default_plan, key=key)
    midnight = dt.datetime(2026, 12, 1, tzinfo=UTC)
    KeySpend.objects.create(key=key, grain=SpendGrain.DAY, bucket=midnight, amount=Decimal("1.25"))
    KeySpend.objects.create(key=key, grain=SpendGrain.DAY, bucket=midnight + dt.timedelta(days=2), amount=2)
    KeySpend.objects.create(key=key, grain=SpendGrain.HOUR, bucket=midnight, amount=9)  # not a day
    KeySpend.objects.create(key=other, grain=SpendGrain.DAY, bucket=midnight, amount=5)  # not hers
    series = key_daily_spend(key_id=person.personal_key.key_id, since=DEC_1, until=dt.date(2026, 12, 4))
    assert [(d.day.day, d.amount) for d in series] == [
        (1, Decimal("1.25")),
        (2, Decimal(0)),
        (3, Decimal(2)),
        (4, Decimal(0)),
    ]


def outlook(
    spent: str, max_budget: str | None, *, now: dt.datetime, reset: dt.datetime | None = JAN_1
) -> str:
    budget = Decimal(max_budget) if max_budget is not None else None
    forecast = budget_forecast(
        spent=Decimal(spent),
        max_budget=budget,
        budget_duration="30d" if reset else "",
        reset_at=reset,
        now=now,
    )
    return person_outlook(forecast, spent=Decimal(spent), max_budget=budget)


def test_at_this_periods_rate_the_budget_lasts_until_a_date_before_the_reset() -> None:
    # The period began on 1 December; 4 of 10 spent in two days: 2 a day, 6 left lasts 3 days.
    sentence = outlook("4", "10", now=dt.datetime(2026, 12, 3, tzinfo=UTC))
    assert (
        sentence == "At this rate your budget lasts until 6 December 2026. It starts again on 1 January 2027."
    )


def test_the_budget_resets_before_it_runs_out() -> None:
    sentence = outlook("0.5", "10", now=dt.datetime(2026, 12, 3, tzinfo=UTC))  # 36 days left
    assert sentence == "At this rate your budget resets on 1 January 2027 before you run out."


def test_a_period_minutes_old_counts_as_a_day_not_as_minutes() -> None:
    # 1 spent in the first five minutes: 1 a day, not 288 a day.
    forecast = budget_forecast(
        spent=Decimal(1),
        max_budget=Decimal(10),
        budget_duration="30d",
        reset_at=JAN_1,
        now=dt.datetime(2026, 12, 1, 0, 5, tzinfo=UTC),
    )
    assert forecast.outlook == Outlook.RUNS_OUT and forecast.runs_out == dt.date(2026, 12, 10)


def test_no_budget_used_up_over_budget_nothing_spent_and_a_late_reset_say_so() -> None:
    now = dt.datetime(2026, 12, 3, tzinfo=UTC)
    assert outlook("3", None, now=now) == "Your key has no budget limit; $3.00 spent this period."
    assert outlook("10", "10", now=now) == (
        "Your budget is used up: $10.00 of $10.00. It starts again on 1 January 2027."
    )
    assert outlook("12.5", "10", now=now).startswith("Your budget is used up: $12.50 of $10.00.")
    assert outlook("0", "10", now=now) == (
        "You have spent nothing this period; $10.00 of $10.00 left. It starts again on 1 January 2027."
    )
    late = outlook("9", "10", now=JAN_1 + dt.timedelta(minutes=5))
    assert late == (
        "Your budget period ended on 1 January 2027 00:00 UTC; LiteLLM starts the new one at its next check."
    )


def test_a_lifetime_budget_forecasts_from_the_recent_days() -> None:
    forecast = budget_forecast(
        spent=Decimal(4),
        max_budget=Decimal(10),
        budget_duration="",
        reset_at=None,
        now=dt.datetime(2026, 12, 3, tzinfo=UTC),
        recent_per_day=Decimal(3),
    )
    assert forecast.outlook == Outlook.RUNS_OUT and forecast.runs_out == dt.date(2026, 12, 5)


@pytest.mark.django_db
def test_me_shows_this_periods_chart_with_the_budget_line_and_its_text_alternative(
    client: Client, litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)  # 10 USD, 30d: a calendar month
    person = make_ready_person(pairing)
    key = key_of(drive(PersonalKey.objects.get(person=person)))
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = today.replace(day=1)
    next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
    VirtualKey.objects.filter(pk=key.pk).update(spend=Decimal("1.00"), budget_reset_at=next_month)
    for back, amount in ((1, "0.75"), (0, "0.25")):
        if today - dt.timedelta(days=back) >= month_start:
            KeySpend.objects.create(
                key=key, grain=SpendGrain.DAY, bucket=today - dt.timedelta(days=back), amount=Decimal(amount)
            )
    client.force_login(person)
    page = client.get("/me/").content.decode()
    last = next_month - dt.timedelta(days=1)
    title = f"Your spend per day, from 1 {month_start:%B} to {last:%-d %B}"
    assert f'<title id="spend-title">{title}</title>' in page
    assert "$1.00 of the $10.00 budget used." in page
    assert page.count("still to come</title>") == (last - today).days
    assert f"<td>{today:%-d %B}</td><td>$0.25</td><td>$1.00</td>" in page  # that day, so far
    assert "budget $10.00</text>" in page and "stroke-dasharray" in page
    assert "At this rate your budget" in page
