"""The person's page shows their key masked, budget, models, expiry and "rotate now"; the admin
shows the librechat.yaml block of a pairing."""

from __future__ import annotations

import pytest
import yaml

from integrations.litellm import key_work, keys
from portal.access import personal_keys
from portal.access.models import PersonalKey
from portal.accounts.models import User
from tests.access.personal_keys.support import (
    drive,
    key_of,
    make_pairing,
    make_ready_person,
)

pytestmark = pytest.mark.django_db


def test_it_shows_the_key_masked_with_budget_models_and_expiry_on_me(client, litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    key = key_of(record)
    litellm_sim.set_spend(key.token_hash, 2.5)
    keys.key_refresh(key=key, enqueue=False)  # what the next verification or sync does
    key_work.key_apply_pending(key_id=key.pk)
    client.force_login(person)

    page = client.get("/me/").content.decode()

    key = key_of(record)
    assert key.raw_key is not None
    assert key.key_name in page and key.raw_key.reveal() not in page
    assert "$2.50 used of $10.00" in page and 'value="25"' in page
    expires = key_of(record).expires
    assert expires is not None and "gpt-4o-mock" in page and expires.strftime("%Y-%m-%d") in page
    assert "Rotate now" in page
    assert page.count("Your AI key") == 1 and "<title>My AI access" in page


def test_it_rotates_from_the_persons_own_page(client, litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    old = key_of(record).token_hash  # the one engine rotates the key row in place
    client.force_login(person)

    response = client.post("/me/key/rotate/", follow=True)

    assert "being replaced" in response.content.decode()
    record = drive(record)
    assert key_of(record).token_hash != old and record.status == "ready"
    again = client.post("/me/key/rotate/", follow=True).content.decode()
    assert "replaced less than 10 minutes ago" in again
    record.refresh_from_db()
    assert record.rotation_requested_at is None and record.step == ""


def test_it_shows_a_ready_to_paste_librechat_yaml_block_in_the_admin(client, litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    pairing.litellm_url_for_librechat = "http://litellm:4000"
    pairing.save()
    admin = User.objects.create_superuser(email="admin@example.com", password="x")
    client.force_login(admin)

    page = client.get(f"/admin/access/pairing/{pairing.pk}/change/").content.decode()
    block = personal_keys.pairing_librechat_yaml(pairing=pairing)

    endpoint = yaml.safe_load(block)["endpoints"]["custom"][0]
    assert endpoint["baseURL"] == "http://litellm:4000/v1" and endpoint["apiKey"] == "user_provided"
    assert endpoint["models"] == {"default": ["gpt-4o-mock"], "fetch": True} and endpoint["name"] == "LiteLLM"
    assert "user_provided" in page and "0.8.5" in page
