"""A person's key changed in LiteLLM by hand: the sync finds it as drift like any key the
portal made, /me/ shows what LiteLLM enforces, and one action puts ours back. Staff list the
people whose keys are idle."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone

from integrations.litellm import drift, key_work, sync
from integrations.litellm.models import VirtualKey
from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import MASTER, drive, key_of, make_pairing, make_ready_person

pytestmark = pytest.mark.django_db


def by_hand(litellm_sim, token_hash: str, **fields: object) -> None:
    response = requests.post(
        litellm_sim.base_url + "/key/update",
        json={"key": token_hash, **fields},
        headers={"Authorization": f"Bearer {MASTER}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_me_shows_the_budget_litellm_enforces_until_ours_is_restored(client, litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)  # the plan's budget is 10
    person = make_ready_person(pairing)
    key = key_of(drive(PersonalKey.objects.get(person=person)))
    litellm_sim.set_spend(key.token_hash, 9.5)
    by_hand(litellm_sim, key.token_hash or "", max_budget=25, models=["gpt-4o-mock", "claude-mock"])
    sync.keys_sync(server=pairing.litellm_server)
    client.force_login(person)

    page = client.get("/me/").content.decode()

    assert "$9.50 used of $25.00" in page and "claude-mock" in page
    assert "as LiteLLM reported it at" in page
    key.refresh_from_db()
    assert key.max_budget == 10 and {d.name for d in drift.drift_differences(key)} == {
        "max_budget",
        "allowed_models",
    }

    drift.key_restore_ours(key=key, enqueue=False)
    assert key_work.key_apply_pending(key_id=key.pk).ok is True

    page = client.get("/me/").content.decode()
    assert "$9.50 used of $10.00" in page and "claude-mock" not in page


def test_staff_list_the_people_whose_keys_are_idle(client, litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    records = {}
    for email in ("busy@example.com", "quiet@example.com", "new@example.com"):
        person = make_ready_person(pairing, email=email)
        records[email] = drive(PersonalKey.objects.get(person=person))
    busy = key_of(records["busy@example.com"])
    assert busy.raw_key is not None
    answer = requests.post(
        litellm_sim.base_url + "/v1/chat/completions",
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {busy.raw_key.reveal()}"},
        timeout=5,
    )
    assert answer.status_code == 200
    sync.keys_sync(server=pairing.litellm_server)
    quiet = key_of(records["quiet@example.com"])
    VirtualKey.objects.filter(pk=quiet.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    client.force_login(User.objects.create_superuser(email="admin@example.com", password="x"))

    def listed(choice: str) -> set[str]:
        page = client.get("/admin/access/personalkey/", {"idle": choice}).content.decode()
        return {email for email in records if email in page}

    assert listed("never") == {"quiet@example.com", "new@example.com"}
    assert listed("30") == {"quiet@example.com"}
    assert listed("90") == set()
    thirty = client.get("/admin/access/personalkey/", {"idle": "30"}).content.decode()
    assert "1 personal key" in thirty  # the count staff read
    everything = client.get("/admin/access/personalkey/").content.decode()
    assert "today" in everything and "never" in everything
