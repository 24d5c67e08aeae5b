"""The technical 500 page of the default (DEBUG on), read from a real `runserver` over a socket.

Item 12: with credentials in DATABASE_URL, REDIS_URL and EMAIL_URL, a Fernet key, a secret key
and a master key configured, a failing POST shows none of them, nor the POSTed password, the
query-string token or the session cookie, in the environment, the settings, the frame variables
or the exception's text; hosts and user names still show, so the page still helps.
"""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "database password": "db-secret-pw-4f1c",
    "redis password": "redis-secret-pw-9a2e",
    "mail password": "mail-secret-pw-77b0",
    "secret key": "django-secret-key-for-the-debug-page-test-0123456789abcdef",
    "fernet key": Fernet.generate_key().decode(),
    "master key": "sk-master-debugpage-0123456789",
    "posted password": "posted-passphrase-c3d4",
    "posted master key": "sk-posted-master-5566778899",
    "query token": "query-token-e5f6a7b8",
    "session cookie": "sessioncookievalue0123456789",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def debug_server(tmp_path: Path) -> Iterator[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "tests.security.boom_settings",
        "DJANGO_DEBUG": "true",
        # Trust auth takes any password: the page must hide it all the same.
        "DATABASE_URL": f"postgres://{db['USER']}:{SECRETS['database password']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres",
        "REDIS_URL": f"redis://:{SECRETS['redis password']}@127.0.0.1:6379/7",
        "EMAIL_URL": f"smtp+tls://portal@example.com:{SECRETS['mail password']}@smtp.example.com:587",
        "DJANGO_SECRET_KEY": SECRETS["secret key"],
        "FERNET_KEYS": SECRETS["fernet key"],
        "LITELLM_MASTER_KEY": SECRETS["master key"],
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"runserver did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.django_db
def test_the_debug_page_shows_no_credential(debug_server: str) -> None:
    response = requests.post(
        f"{debug_server}/boom/",
        params={"token": SECRETS["query token"], "page": "2"},
        data={
            "email": "ann@example.com",
            "password": SECRETS["posted password"],
            "master_key": SECRETS["posted master key"],
        },
        cookies={"sessionid": SECRETS["session cookie"]},
        headers={"Accept": "text/html"},
        timeout=30,
    )
    assert response.status_code == 500
    page = html.unescape(response.text)
    assert "RuntimeError" in page and "DATABASE_URL" in page and "EMAIL_URL" in page  # the real page
    leaked = {name for name, value in SECRETS.items() if value in page}
    assert leaked == set()
    # What helps debugging stays: hosts, user names, the form's harmless fields.
    assert "smtp+tls://portal@example.com:********************@smtp.example.com:587" in page
    assert "redis://:********************@127.0.0.1:6379/7" in page
    assert "ann@example.com" in page
    assert "token=********************&page=2" in page
