"""Fixtures for the LiteLLM tests: the contract simulator, server rows and a worker consuming
the server's network queue. The REAL proxy fixture is suite-wide (tests/real_litellm.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.litellm.models import LiteLLMServer
from tests.real_litellm import REAL_LITELLM_VERSION, RealProxy
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]
MASTER = "sk-portal-test-master-0123456789abcdef"
NETWORK = "backend-dev"


@pytest.fixture(scope="session")
def _simulator() -> Iterator[LiteLLMSimulator]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=3)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(_simulator: LiteLLMSimulator) -> Iterator[LiteLLMSimulator]:
    _simulator.reset()
    if not _simulator.running:
        _simulator.start()
    yield _simulator
    _simulator.reset()
    if not _simulator.running:
        _simulator.start()


@pytest.fixture
def server(sim: LiteLLMSimulator, db: None) -> LiteLLMServer:
    row = LiteLLMServer(name="litellm-dev", base_url=sim.base_url + "/v1", network=NETWORK)
    row.master_key = MASTER
    row.save()
    return row


@pytest.fixture
def tx_server(sim: LiteLLMSimulator, transactional_db: None) -> LiteLLMServer:
    row = LiteLLMServer(name="litellm-dev", base_url=sim.base_url, network=NETWORK)
    row.master_key = MASTER
    row.save()
    return row


@pytest.fixture
def net_worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    """A real worker on the default queue and the LiteLLM server's network queue."""
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default", f"net.{NETWORK}"],
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def stored_key(sim: LiteLLMSimulator, token_or_raw: str | None) -> dict[str, Any]:
    """The simulator's row for a key that must exist."""
    assert token_or_raw, "the key has no hash"
    row = sim.get_key(token_or_raw)
    assert row is not None, "LiteLLM has no such key"
    return row


__all__ = ["MASTER", "REAL_LITELLM_VERSION", "RealProxy", "stored_key"]
