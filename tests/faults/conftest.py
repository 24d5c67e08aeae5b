"""Faults at scale: the contract simulators with their fault knobs, real workers with short
vendor timeouts, and a beat that the test ticks itself (after moving the clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache

from integrations.librechat.models import LibreChatServer
from portal.accounts.models import SignupMode, SignupPolicy
from portal.core.queues import network_queue_name
from tests.faults.private_redis import PrivateRedis
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker, database_url_for_tests

NETWORK = "backend-dev"
# Short vendor timeouts so a hanging LibreChat costs a worker one second, not fifteen.
FAST_VENDOR_ENV = {"VENDOR_READ_TIMEOUT": "1.0", "VENDOR_CONNECT_TIMEOUT": "1.0"}


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def librechat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator(register_max=10_000, login_max=10_000, seed=7) as simulator:
        simulator.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        simulator.reset_calls()
        yield simulator


@pytest.fixture
def librechat_server(librechat_sim: LibreChatSimulator, transactional_db: None) -> LibreChatServer:
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    return LibreChatServer.objects.create(
        name="librechat-api",
        api_url=librechat_sim.base_url,
        public_url="https://chat.example.com",
        network=NETWORK,
    )


@pytest.fixture
def start_worker(transactional_db: None, redis_url: str) -> Iterator[Callable[..., CeleryWorker]]:
    """Start real workers on the default and the network queue; all stopped at the end."""
    started: list[CeleryWorker] = []

    def start(*, broker_url: str | None = None, concurrency: int = 8, **extra: Any) -> CeleryWorker:
        worker = CeleryWorker(
            database_url=database_url_for_tests(),
            broker_url=broker_url or redis_url,
            queues=["default", network_queue_name(NETWORK)],
            concurrency=concurrency,
            extra_env=FAST_VENDOR_ENV,
            **extra,
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    broker = PrivateRedis()
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def portal_broker(private_redis: PrivateRedis) -> Iterator[str]:
    """The test process (the web side) sends its wake-ups to the private broker too."""
    from portal.celery import app

    def point_at(url: str) -> None:
        # kombu keeps one pool per broker URL; the app caches the one it used last.
        app.conf.update(broker_url=url)
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    before = app.conf.broker_url
    point_at(private_redis.url)
    yield private_redis.url
    point_at(before)
