from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth import get_user_model

from integrations.librechat import accounts
from integrations.librechat.models import LibreChatAccount, LibreChatServer
from tests.simulators.librechat import LibreChatSimulator


@pytest.fixture
def sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
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
def make_account(server: LibreChatServer) -> Callable[..., LibreChatAccount]:
    def factory(email: str = "ann@example.com", name: str = "Ann Example") -> LibreChatAccount:
        person = get_user_model().objects.create_user(email=email, password=None, name=name)
        account = accounts.account_create(person=person, server=server)
        assert account is not None
        return account

    return factory
