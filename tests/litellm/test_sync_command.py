"""`manage.py litellm_sync` hands the sync to a worker on the server's network queue and never
waits in silence: with no worker consuming that queue it says so within seconds and names
`--here`; with a worker, busy or not, it completes. Real Redis broker, real worker processes."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from integrations.litellm import tasks
from integrations.litellm.models import LiteLLMServer
from portal.celery import app
from portal.core.queues import network_queue_name
from tests.litellm.conftest import MASTER, NETWORK
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]
QUEUE = network_queue_name(NETWORK)


@pytest.fixture
def empty_queue() -> Iterator[None]:
    """The network queue starts and ends empty: a task left there by a test without a worker
    would otherwise run in a later test's worker."""

    def purge() -> None:
        with app.connection_for_write() as connection:
            channel: Any = connection.default_channel
            channel.queue_purge(QUEUE)

    purge()
    yield
    purge()


def sync_command(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("litellm_sync", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


@pytest.mark.django_db
def test_with_no_worker_it_says_so_within_seconds_and_names_here(
    server: LiteLLMServer, sim: LiteLLMSimulator, empty_queue: None
) -> None:
    started = time.monotonic()
    out, err, error = sync_command()
    elapsed = time.monotonic() - started
    assert error is not None and "1 server(s) not synced" in str(error)
    assert elapsed < 8, f"took {elapsed:.1f} s"
    assert f"litellm-dev: no worker took the task from queue {QUEUE} within 3 s" in err
    assert "litellm_sync --here" in err and "stays queued" in err
    assert sim.calls[("GET", "/key/list")] == 0 and out == ""


def test_a_worker_on_other_queues_only_does_not_count(
    transactional_db: None, tx_server: LiteLLMServer, redis_url: str, empty_queue: None
) -> None:
    worker = CeleryWorker(database_url=database_url_for_tests(), broker_url=redis_url, queues=["default"])
    worker.start()
    try:
        _, err, error = sync_command("--pickup", "1")
    finally:
        worker.stop()
    assert error is not None
    assert (
        f"no worker took the task from queue {QUEUE} within 1 s (no worker answered as consuming it)" in err
    )


def test_with_a_worker_it_syncs(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker, empty_queue: None
) -> None:
    sim.seed_keys(3)
    out, err, error = sync_command()
    assert error is None, err
    assert "litellm-dev: 3 keys seen in 1 list calls: 3 adopted" in out


def test_a_busy_worker_is_waited_for_not_reported_missing(
    transactional_db: None, tx_server: LiteLLMServer, sim: LiteLLMSimulator, redis_url: str, empty_queue: None
) -> None:
    other = LiteLLMServer(name="litellm-other", base_url=sim.base_url, network=NETWORK)
    other.master_key = MASTER
    other.save()
    sim.seed_keys(2)
    worker = CeleryWorker(
        database_url=database_url_for_tests(), broker_url=redis_url, queues=[QUEUE], concurrency=1
    )
    worker.start()
    try:
        sim.latency = 0.7  # the other server's sync holds the only slot for a few seconds
        busy = tasks.server_sync.apply_async(kwargs={"server_id": other.pk}, queue=QUEUE)
        deadline = time.monotonic() + 20
        while busy.state != "STARTED" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert busy.state == "STARTED"
        out, err, error = sync_command("litellm-dev", "--pickup", "0.5")
        assert busy.ready()  # ours waited its turn behind it
    finally:
        worker.stop()
    assert error is None, err
    assert "litellm-dev: 2 keys seen in 1 list calls: 2 adopted" in out and "no worker" not in err


def test_a_broker_that_does_not_answer_is_a_clear_error(
    transactional_db: None, tx_server: LiteLLMServer, unused_tcp_port: int
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": f"redis://:broker-password-x9@127.0.0.1:{unused_tcp_port}/0",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "litellm_sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert "cannot send the sync to the Celery broker" in done.stderr and "--here" in done.stderr
    assert "Traceback" not in done.stderr and "broker-password-x9" not in done.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"


def test_on_the_embedded_default_with_no_worker_it_says_so_too(tmp_path: Path) -> None:
    """What a newcomer runs: SQLite and the serverless broker under the var dir, no worker."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "LITELLM_API_URL": "http://127.0.0.1:9",
        "LITELLM_MASTER_KEY": MASTER,
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "--noinput", "-v0").returncode == 0
    assert "LiteLLM server 'litellm'" in manage("bootstrap").stdout
    started = time.monotonic()
    done = manage("litellm_sync")
    elapsed = time.monotonic() - started
    assert done.returncode == 1 and elapsed < 15, (elapsed, done.stderr)
    assert f"litellm: no worker took the task from queue {QUEUE} within 3 s" in done.stderr
    assert "litellm_sync --here" in done.stderr and "Traceback" not in done.stderr
    # Still queued for the next worker: a row in the embedded broker's SQLite file (kombu's
    # SQLAlchemy transport: kombu_queue / kombu_message).
    with sqlite3.connect(tmp_path / "var" / "broker.sqlite3") as broker:
        queued = broker.execute(
            "SELECT COUNT(*) FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id WHERE q.name = ?",
            (QUEUE,),
        ).fetchone()[0]
    assert queued == 1, "the task is not queued"
