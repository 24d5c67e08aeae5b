"""The real `make run`, as a newcomer starts it: the embedded default on a private var dir.

Not Django's live test server: the Makefile's own migrate, bootstrap, ensure_admin and the
three processes of Procfile.dev (web, worker, beat) under scripts/procrun.py. The whole
process group is killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "a long admin passphrase for make run"
# What the embedded default must not inherit from the test run (its PostgreSQL and Redis).
_NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_",
    "DJANGO_",
    "PORTAL_",
    "TEST_",
    "LITELLM_",
    "LIBRECHAT_",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MakeRun:
    def __init__(
        self, var_dir: Path, *, port: int | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.var_dir = var_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = var_dir.parent / f"make-run-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)},
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_PORT": str(self.port),
            "DJANGO_SUPERUSER_EMAIL": ADMIN_EMAIL,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> MakeRun:
        log = self.log_path.open("wb")
        # The suite runs on an installed .venv (`make test` depends on `install` too), so the
        # run never reinstalls in the middle of a test.
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "--assume-old=.venv/.installed", "run"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole in stop()
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make run exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if "worker" in self.log() and self.ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"make run was not ready within {timeout:.0f}s:\n{self.log()[-4000:]}")

    def ready(self) -> bool:
        """The web answers /readyz and the worker said it is ready."""
        try:
            answered = requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False
        return answered and " ready." in self.log()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A management command on the same embedded default (same var dir, same environment)."""
        return subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # what Ctrl-C does: every process stops
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        # Whatever is left of the group (a stuck worker child), gone for good.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
