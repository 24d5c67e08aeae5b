"""`make soak`: the real `make run` for SOAK_SECONDS (15 minutes) with beat firing and 50
people signing up meanwhile, provisioned against the LibreChat contract simulator run as a
process. Zero crashes, every signup provisioned; one `soak:` figure line.

Not part of `make test` (it skips there); `make soak` runs it, `.ci/run` runs `make soak`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.makerun import ROOT, MakeRun, free_port
from tests.simulators.librechat import CONTROL_HEADER

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "900"))
SIGNUPS = 50
PASSWORD = "a long portal passphrase 7"
CONTROL_TOKEN = "soak-control-token"

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not os.environ.get("PORTAL_SOAK"), reason="the soak runs with `make soak`"),
]


@pytest.fixture
def librechat() -> Iterator[str]:
    """The LibreChat contract simulator as its own process; its base URL."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.simulators.librechat"),
            *("--port", str(free_port()), "--control-token", CONTROL_TOKEN),
            # LibreChat's operator raised REGISTER_MAX and LOGIN_MAX for this (the README says
            # so): every account comes from the portal's one address and is confirmed by a login.
            *("--register-max", str(SIGNUPS * 2), "--login-max", str(SIGNUPS * 4)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), line
        base_url = line.split()[1]
        operator = {"email": "operator@example.com", "password": "operator-password"}  # LibreChat's ADMIN
        requests.post(
            f"{base_url}/_sim/users", json=operator, headers={CONTROL_HEADER: CONTROL_TOKEN}, timeout=10
        )
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def portal(tmp_path: Path, librechat: str) -> Iterator[MakeRun]:
    run = MakeRun(
        tmp_path / "var",
        env={
            "LIBRECHAT_API_URL": librechat,
            "LIBRECHAT_PUBLIC_URL": "https://chat.example.com",
            "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",  # four slashes: an absolute path
            # Fifty people from fifty addresses behind one proxy, not one address hitting the
            # signup rate limit.
            "PORTAL_TRUSTED_PROXY_HOPS": "1",
        },
    )
    try:
        run.start()
        run.manage(
            "shell",
            "-c",
            "from portal.accounts.models import SignupMode, SignupPolicy; "
            "SignupPolicy.objects.all().delete(); SignupPolicy.objects.create(mode=SignupMode.OPEN)",
        )
        yield run
    finally:
        run.stop()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def verify_path(mail_dir: Path, email: str) -> str:
    deadline = time.monotonic() + 30  # the mail may be sent by the worker, not the request
    while time.monotonic() < deadline:
        for message in sorted(mail_dir.glob("*.log")):
            text = message.read_text()
            if f"To: {email}" in text:
                found = re.search(r"/accounts/verify/[^/\s]+/", text)
                assert found, text
                return found.group(0)
        time.sleep(0.5)
    raise AssertionError(f"no verification mail to {email}")


def sign_up_and_verify(portal: MakeRun, mail_dir: Path, n: int) -> None:
    email = f"person{n}@example.com"
    session = requests.Session()
    session.headers["X-Forwarded-For"] = f"10.0.{n // 250}.{n % 250 + 1}"
    form = session.get(f"{portal.url}/accounts/signup/", timeout=15)
    answer = session.post(
        f"{portal.url}/accounts/signup/",
        data={
            "csrfmiddlewaretoken": csrf_token(form.text),
            "email": email,
            "name": f"Person {n}",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        headers={"Referer": f"{portal.url}/accounts/signup/"},
        timeout=15,
    )
    assert answer.url.endswith("/accounts/signup/done/"), answer.text[:800]
    page = f"{portal.url}{verify_path(mail_dir, email)}"
    # Opening the link moves its token into the session (a redirect to the confirm page); the
    # confirmation takes the signup password and signs the person in.
    confirm = session.get(page, timeout=15)
    done = session.post(
        confirm.url,
        data={"csrfmiddlewaretoken": csrf_token(confirm.text), "password": PASSWORD},
        headers={"Referer": confirm.url},
        timeout=15,
    )
    assert done.status_code == 200 and done.url.endswith("/me/"), done.text[:800]


def provisioned(portal: MakeRun) -> int:
    out = portal.manage(
        "shell",
        "-c",
        "from integrations.librechat.models import AccountStatus, LibreChatAccount; "
        "print(LibreChatAccount.objects.filter(status=AccountStatus.READY).count())",
    )
    return int(out.stdout.strip().splitlines()[-1])


def librechat_users(base_url: str) -> int:
    state: dict[str, Any] = requests.get(
        f"{base_url}/_sim/state", headers={CONTROL_HEADER: CONTROL_TOKEN}, timeout=10
    ).json()
    return int(state["users"])


def test_make_run_stays_up_with_beat_firing_and_every_signup_provisioned(
    portal: MakeRun, librechat: str, tmp_path: Path, proof_line: Any
) -> None:
    started = time.monotonic()
    end = started + SOAK_SECONDS
    # Signups spread over the first two thirds, so the last ones have time to be provisioned.
    spacing = SOAK_SECONDS * 2 / 3 / SIGNUPS
    signed_up = 0
    while time.monotonic() < end or signed_up < SIGNUPS:
        assert portal.alive(), portal.log()[-4000:]
        if signed_up < SIGNUPS and time.monotonic() >= started + signed_up * spacing:
            sign_up_and_verify(portal, tmp_path / "mail", signed_up)
            signed_up += 1
        time.sleep(0.5)
    # Anything still on its way gets a short grace, then the figures.
    deadline = time.monotonic() + 60
    ready = provisioned(portal)
    while ready < SIGNUPS and time.monotonic() < deadline:
        time.sleep(2)
        ready = provisioned(portal)
    log = portal.log()
    stopped = [line for line in log.splitlines() if line.startswith("make run:") and "stopped" in line]
    users = librechat_users(librechat)
    beat_sent = log.count("Scheduler: Sending due task")
    tasks_done = log.count(" succeeded in ")
    with contextlib.closing(sqlite3.connect(portal.var_dir / "broker.sqlite3")) as broker:
        broker_rows = broker.execute("select count(*) from kombu_message").fetchone()[0]
    proof_line(
        f"soak: seconds={time.monotonic() - started:.0f} signups={signed_up} provisioned={ready} "
        f"librechat_users={users} crashes={len(stopped)} beat_sent={beat_sent} tasks_done={tasks_done} "
        f"broker_rows={broker_rows}"
    )
    assert portal.alive() and not stopped, stopped or log[-4000:]
    assert signed_up == SIGNUPS
    assert ready == SIGNUPS and users == SIGNUPS + 1, log[-4000:]
    assert beat_sent > 0
