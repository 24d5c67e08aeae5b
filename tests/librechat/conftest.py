from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.simulators.librechat import LibreChatSimulator


@pytest.fixture
def sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        yield simulator
