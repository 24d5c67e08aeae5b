"""A person's rotation keeps their budget: 9.5 of 10 before is 9.5 of 10 after, in LiteLLM and
on /me/, with the same reset date; what the old key spends during the hand-over is counted."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from portal.access import personal_keys
from portal.access.models import PersonalKey
from tests.access.personal_keys.support import (
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
    pushed_raw_key,
)
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db

PER_CALL = 0.125  # exact in binary


def chat(sim: LiteLLMSimulator, raw: str) -> int:
    response = requests.post(
        sim.base_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {raw}"},
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    return response.status_code


def person_at_9_5_of_10(litellm_sim, chat_sim):
    pairing = make_pairing(litellm_sim, chat_sim)  # the plan: 10 USD a month (30d)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    assert record.status == "ready", record.last_error
    litellm_sim.set_spend(key_of(record).token_hash or "", 9.5)
    return person, record


def me_page(person) -> str:
    client = Client()
    client.force_login(person)
    return client.get("/me/").content.decode()


def test_a_person_at_9_5_of_10_is_at_9_5_of_10_after_rotating_with_the_same_reset_date(
    litellm_sim, chat_sim
) -> None:
    person, record = person_at_9_5_of_10(litellm_sim, chat_sim)
    before = litellm_keys_of(litellm_sim, person)[0]

    personal_keys.personal_key_rotate(record=record)
    record = drive(record)

    assert record.status == "ready" and record.step == "", record.last_error
    [after] = litellm_keys_of(litellm_sim, person)
    assert after["token"] != before["token"]
    assert after["spend"] == 9.5 and after["max_budget"] == 10.0
    assert after["budget_reset_at"] == before["budget_reset_at"]
    page = me_page(person)
    assert "$9.50 used of $10.00" in page
    assert f"starts again at 0 on {before['budget_reset_at']:%Y-%m-%d %H:%M} UTC" in page


def test_what_the_old_key_spends_during_the_hand_over_is_counted_and_the_two_share_the_budget(
    litellm_sim, chat_sim
) -> None:
    litellm_sim.configure(spend_per_call=PER_CALL)
    person, record = person_at_9_5_of_10(litellm_sim, chat_sim)
    old_raw = pushed_raw_key(chat_sim, person.email)  # what LibreChat uses until the push

    personal_keys.personal_key_rotate(record=record)
    record = drive(record, until=lambda r: r.step == "rotate_push")
    assert key_of(record).rotation_step == "handover"
    # The old key keeps half of the remaining 0.5 while both work: two calls, then it stops.
    assert [chat(litellm_sim, old_raw) for _ in range(3)] == [200, 200, 422]  # budget_exceeded (contract)
    assert "$10.00" in me_page(person)  # the row keeps the budget, LiteLLM holds the parts

    record = drive(record)

    assert record.status == "ready", record.last_error
    [after] = litellm_keys_of(litellm_sim, person)
    assert after["spend"] == 9.5 + 2 * PER_CALL and after["max_budget"] == 10.0
    assert "$9.75 used of $10.00" in me_page(person)
