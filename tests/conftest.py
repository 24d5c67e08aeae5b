"""Suite-wide fixtures: the real-services guard and a real Celery worker process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.makerun import MakeRun
from tests.real_litellm import real_litellm  # noqa: F401 - one real proxy for the whole suite
from tests.workers import CHAT_NETWORK, CeleryWorker, database_url_for_tests


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("django"):
        return  # `-p no:django`: Django-free tests (simulators, probes) only
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" and not os.environ.get("PORTAL_ALLOW_SQLITE_TESTS"):
        raise pytest.UsageError(
            "the suite runs on PostgreSQL and Redis: run it with `make test` "
            "(scripts/with-test-services sets DATABASE_URL and REDIS_URL), not bare pytest"
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


@pytest.fixture
def celery_worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    """A real worker process consuming every queue from Redis, writing to the test database."""
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default"],
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """The real `make run` (embedded default) on a private var dir and a free PORTAL_PORT."""
    run = MakeRun(tmp_path_factory.mktemp("make-run") / "var")
    try:
        yield run.start()
    finally:
        run.stop()


@pytest.fixture
def unused_tcp_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest) -> None:
    """PBKDF2's deliberate slowness is for attackers, not for the suite."""
    if request.config.pluginmanager.hasplugin("django"):
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- figures for `make proof` ----------------------------------------------------------------

_PROOF_LINES: list[str] = []


@pytest.fixture
def proof_line() -> Callable[[str], None]:
    """Record one figure line (`faults: signups=300 ...`); printed together at the end of the run."""

    def record(text: str) -> None:
        _PROOF_LINES.append(text)
        print(text)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _PROOF_LINES:
        terminalreporter.section("proof figures")
        for line in _PROOF_LINES:
            terminalreporter.write_line(line)


@pytest.fixture
def start_worker(transactional_db: None, redis_url: str) -> Iterator[Callable[[], CeleryWorker]]:
    """Start real Celery workers (default, LiteLLM's and LibreChat's network queues) on the
    test database and Redis; all stopped at the end."""
    workers: list[CeleryWorker] = []

    def start() -> CeleryWorker:
        worker = CeleryWorker(
            database_url=database_url_for_tests(),
            broker_url=redis_url,
            queues=["default", "net.backend-dev", f"net.{CHAT_NETWORK}"],
        )
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
