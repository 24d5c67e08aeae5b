"""Start real Celery worker processes for tests (never eager mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent


def database_url_for_tests() -> str:
    """The URL of the database the tests use now (pytest-django's test_ database)."""
    from django.db import connection

    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class CeleryWorker:
    """`celery worker` in a subprocess, with its log kept for assertions and failures."""

    def __init__(
        self,
        *,
        database_url: str,
        broker_url: str,
        queues: list[str],
        concurrency: int = 2,
        pool: str = "prefork",
        extra_env: Mapping[str, str] | None = None,
        argv_prefix: list[str] | None = None,
        log_path: Path | None = None,
        hostname: str | None = None,
    ) -> None:
        self.queues = queues
        self.log_path = log_path or Path(f"/tmp/portal-test-worker-{os.getpid()}-{time.monotonic_ns()}.log")
        self.hostname = hostname or f"test-{os.getpid()}-{time.monotonic_ns()}@%h"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "REDIS_URL": broker_url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.argv = [
            *(argv_prefix or []),
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--hostname",
            self.hostname,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 30.0) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"celery worker not ready in {ready_timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): a crash, not a shutdown."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if hasattr(self, "_log"):
            self._log.close()


# LibreChat on another network than LiteLLM in the worker tests: two network queues.
CHAT_NETWORK = "backend-chat"


def wait_for(condition: Callable[[], bool], worker: CeleryWorker, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"not reached in {seconds} s; worker log:\n{worker.log()[-4000:]}")
