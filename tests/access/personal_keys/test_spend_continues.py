"""A person's chart continues across two rotations of their key (the real rotation engine,
with the hand-over to LibreChat) and a budget reset, against the LiteLLM simulator accruing
spend per chat as LiteLLM does; never negative."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from integrations.litellm import sync
from integrations.litellm.models import KeySpend
from integrations.litellm.spend_series import key_daily_spend
from portal.access import personal_keys
from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import drive, key_of, make_pairing, make_ready_person, pushed_raw_key
from tests.access.personal_keys.test_rotation_budget import chat
from tests.litellm.test_rotation_budget import WEDNESDAY, Clock
from tests.simulators import litellm as simulator
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db

PER_CALL = 0.125  # exact in binary


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock(WEDNESDAY)  # Wednesday 2 December 2026, 11:30 UTC
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    monkeypatch.setattr(simulator, "_now", lambda: c.now)
    yield c


def test_a_persons_chart_continues_across_two_rotations_and_a_budget_reset(
    litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator, clock: Clock
) -> None:
    litellm_sim.configure(spend_per_call=PER_CALL)
    pairing = make_pairing(litellm_sim, chat_sim)
    pairing.default_plan.budget_duration = "7d"  # LiteLLM resets it on Monday 7 December
    pairing.default_plan.save()
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    first_hash = key_of(record).token_hash
    sync.keys_sync(server=pairing.litellm_server)  # the baseline

    def chats(n: int) -> None:
        raw = pushed_raw_key(chat_sim, person.email)  # what LibreChat uses now
        assert [chat(litellm_sim, raw) for _ in range(n)] == [200] * n
        clock.advance(minutes=1)
        sync.keys_sync(server=pairing.litellm_server)

    def rotate() -> None:
        personal_keys.personal_key_rotate(record=record)
        assert drive(record).status == "ready"
        clock.advance(minutes=1)  # the sync leaves a row LiteLLM was told something at its start

    chats(2)  # Wednesday: 0.25
    rotate()
    chats(1)  # 0.125 on the second key
    clock.advance(days=1)
    chats(2)  # Thursday: 0.25 on the second key
    rotate()
    chats(1)  # 0.125 on the third key
    key = key_of(record)
    assert key.token_hash != first_hash and key.spend == Decimal("0.75")
    clock.now = dt.datetime(2026, 12, 7, 1, tzinfo=dt.UTC)  # Monday: past the reset
    assert litellm_sim.reset_budgets() == 1
    chats(1)  # the new period: 0.125

    series = key_daily_spend(
        key_id=person.personal_key.key_id, since=dt.date(2026, 12, 2), until=dt.date(2026, 12, 7)
    )
    assert [str(d.amount) for d in series] == ["0.375000", "0.375000", "0", "0", "0", "0.125000"]
    assert not KeySpend.objects.filter(amount__lte=0).exists()
    client = Client()
    client.force_login(person)
    page = client.get("/me/").content.decode()
    assert "Your spend per day, from 7 December to 13 December" in page
    assert "<td>7 December</td><td>$0.13</td><td>$0.13</td>" in page  # the new period from 0
    assert "$0.13 of the $10.00 budget used." in page
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="ops@example.com", password="x"))
    admin_page = staff.get(f"/admin/accounts/user/{person.pk}/change/").content.decode()
    assert (
        '<title id="person-spend-title">Their spend per day, from 7 December to 13 December</title>'
        in admin_page
    )
