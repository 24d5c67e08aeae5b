from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache

from integrations.librechat.models import LibreChatServer
from portal.accounts.models import SignupMode, SignupPolicy, User
from tests.simulators.librechat import LibreChatSimulator

PASSWORD = "a long portal passphrase 7"


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    cache.clear()  # rate-limit counters live in Redis and would leak between tests


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        simulator.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        simulator.reset_calls()
        yield simulator


@pytest.fixture
def server(sim: LibreChatSimulator, db: None) -> LibreChatServer:
    return LibreChatServer.objects.create(
        name="librechat-api",
        api_url=sim.base_url,
        public_url="https://chat.example.com",
        network="backend-dev",
    )


@pytest.fixture
def policy(db: None) -> Callable[..., SignupPolicy]:
    def set_policy(mode: str = SignupMode.OPEN, domains: str = "") -> SignupPolicy:
        SignupPolicy.objects.all().delete()
        return SignupPolicy.objects.create(mode=mode, allowed_domains=domains)

    return set_policy


@pytest.fixture
def make_person(db: None) -> Callable[..., User]:
    def factory(email: str = "ann@example.com", *, cleared: bool = True, **extra: Any) -> User:
        from django.utils import timezone

        if cleared:
            extra.setdefault("email_verified_at", timezone.now())
            extra.setdefault("approved_at", timezone.now())
        return User.objects.create_user(email=email, password=PASSWORD, name="Ann Example", **extra)

    return factory
