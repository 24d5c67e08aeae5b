"""Fixtures for the access tests: the two vendor simulators (named apart), a few named staff
members with exactly the permissions a test gives them, and a key created through LiteLLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client

from integrations.litellm import key_work, keys, limits
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.simulators.litellm import LiteLLMSimulator

MASTER = "sk-portal-test-master-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    cache.clear()  # rate-limit counters live in Redis and would leak between tests


@pytest.fixture
def litellm_sim() -> Iterator[LiteLLMSimulator]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=7)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def litellm_server(litellm_sim: LiteLLMSimulator, db: None) -> LiteLLMServer:
    row = LiteLLMServer(name="litellm-dev", base_url=litellm_sim.base_url, network="backend-dev")
    row.master_key = MASTER
    row.save()
    return row


@pytest.fixture
def key(litellm_server: LiteLLMServer, litellm_sim: LiteLLMSimulator) -> VirtualKey:
    created = keys.key_create(
        server=litellm_server,
        alias="team-search",
        owner="ana",
        limits=limits.KeyLimits(max_budget=Decimal("10")),
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=created.pk)
    created.refresh_from_db()
    assert created.status == KeyStatus.ACTIVE
    litellm_sim.calls.clear()
    return created


@pytest.fixture
def staff_with(db: None) -> Callable[..., Client]:
    """A logged-in staff member holding exactly the named permissions ("litellm.view_virtualkey")."""

    def login(*perms: str, email: str = "staff@example.com") -> Client:
        staff = User.objects.create_user(email=email, password="a long passphrase 1", is_staff=True)
        for perm in perms:
            app_label, codename = perm.split(".")
            staff.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        client = Client()
        client.force_login(staff)
        return client

    return login
