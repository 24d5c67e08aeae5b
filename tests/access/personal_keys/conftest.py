"""Fixtures for the personal-key tests: both contract simulators over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.access.personal_keys.support import MASTER
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator


@pytest.fixture
def litellm_sim() -> Iterator[LiteLLMSimulator]:
    with LiteLLMSimulator(master_key=MASTER, seed=6) as sim:
        yield sim


@pytest.fixture
def chat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as sim:
        sim.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        yield sim
