"""Helpers for the personal-key tests: paired servers, a plan, people whose LibreChat account
is ready, and a driver that runs the steps in this process."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.utils import timezone

from integrations.librechat.accounts import account_create
from integrations.librechat.models import LibreChatAccount, LibreChatServer
from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
from portal.access import key_steps, provisioning
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import User
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

MASTER = "sk-portal-test-master-0123456789abcdef"
NETWORK = "backend-dev"
ENDPOINT = "LiteLLM"


def make_pairing(
    litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator, chat_network: str = NETWORK
) -> Pairing:
    litellm_server = LiteLLMServer(name="litellm-dev", base_url=litellm_sim.base_url, network=NETWORK)
    litellm_server.master_key = MASTER
    litellm_server.save()
    chat_server = LibreChatServer.objects.create(
        name="librechat-dev", api_url=chat_sim.base_url, network=chat_network
    )
    plan = KeyPlan.objects.create(
        name="staff",
        allowed_models=["gpt-4o-mock"],
        max_budget=Decimal("10"),
        budget_duration="30d",
        rpm_limit=60,
        key_duration="90d",
        rotation_days=90,
    )
    return Pairing.objects.create(
        librechat_server=chat_server, litellm_server=litellm_server, endpoint_name=ENDPOINT, default_plan=plan
    )


def make_ready_person(pairing: Pairing, email: str = "ann@example.com") -> User:
    """A cleared person whose LibreChat account is provisioned (against the simulator)."""
    now = timezone.now()
    person = User.objects.create_user(
        email=email, password="portal pass 1", name="Ann Example", email_verified_at=now, approved_at=now
    )
    account = account_create(person=person, server=pairing.librechat_server)
    assert account is not None
    provisioning.person_provision(account_id=account.pk)  # as the access task runs it
    account.refresh_from_db()
    assert account.status == "ready", account.last_error
    return person


def drive(
    record: PersonalKey, *, until: Callable[[PersonalKey], bool] | None = None, limit: int = 30
) -> PersonalKey:
    """Run the record's steps here, one after the other, as the workers would (ignoring the
    backoff), until it is idle, needs attention, or `until` says stop before the next step."""
    for _ in range(limit):
        record.refresh_from_db()
        if not record.step or record.status == "needs_attention":
            return record
        if until is not None and until(record):
            return record
        PersonalKey.objects.filter(pk=record.pk).update(claimed_until=None)
        # The key rows' own backoff is skipped too (a worker would wait it out).
        VirtualKey.objects.filter(pk__in=[record.key_id]).exclude(pending_action="").update(
            next_attempt_at=timezone.now()
        )
        key_steps.personal_key_advance(record_id=record.pk)
    record.refresh_from_db()
    return record


def litellm_keys_of(sim: LiteLLMSimulator, person: User) -> list[dict[str, Any]]:
    with sim._lock:  # the simulator's own table: what LiteLLM holds, deleted keys excluded
        rows = [dict(r) for r in sim._keys.values()]
    return [r for r in rows if (r.get("metadata") or {}).get("portal_person_id") == person.pk]


def chat_key_value(chat_sim: LibreChatSimulator, email: str) -> str | None:
    return chat_sim.user_keys(email).get(ENDPOINT)


def pushed_raw_key(chat_sim: LibreChatSimulator, email: str) -> str:
    """The raw key LibreChat holds for the person under the endpoint (a JSON string value)."""
    value = chat_key_value(chat_sim, email)
    assert value is not None, f"LibreChat holds no key for {email}"
    return str(json.loads(value)["apiKey"])


def key_of(record: PersonalKey) -> VirtualKey:
    record.refresh_from_db()
    assert record.key is not None, record.last_error
    return record.key


def account_of(person: User) -> LibreChatAccount:
    return LibreChatAccount.objects.get(person=person)


def litellm_loses(sim: LiteLLMSimulator, token_hash: str | None) -> None:
    """LiteLLM no longer has the key (deleted behind the portal's back)."""
    import requests

    assert token_hash

    answer = requests.post(
        f"{sim.base_url}/key/delete",
        headers={"Authorization": f"Bearer {MASTER}"},
        json={"keys": [token_hash]},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    sim.reset_calls()
