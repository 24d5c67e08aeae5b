"""Attacks on rotation (issue 11), each reproduced the way the attacker came in.

Item 4: "Rotate now" on /me/ and the admin's rotate action no longer refill a budget: the
        replacement key starts at the old key's spend in LiteLLM (9.5 of 10 stays 9.5 of 10),
        read live from LiteLLM, and also when a worker is SIGKILLed inside /key/generate.
Item 14: a stale `.venv-litellm` (another LiteLLM version than the pin, or none) is detected,
        so `make litellm-venv` rebuilds it and the real-proxy fixture refuses it.
Item 15: `rotate_encryption_keys` compares before it swaps: a secret a worker writes between
        the command's read and its write survives; the row is counted as skipped and retried.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.litellm import key_work, keys, limits
from integrations.litellm import tasks as litellm_tasks
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal import crypto
from portal.access import personal_keys
from portal.access.models import PersonalKey
from portal.accounts.models import User
from scripts.litellm_venv import stale_reason
from tests.access.personal_keys.support import (
    MASTER,
    drive,
    key_of,
    litellm_keys_of,
    make_pairing,
    make_ready_person,
    pushed_raw_key,
)
from tests.real_litellm import REAL_LITELLM_VERSION
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CHAT_NETWORK, ROOT, wait_for

OLD_FERNET_KEY, NEW_FERNET_KEY = Fernet.generate_key(), Fernet.generate_key()


# --- Item 4: a rotation carries the old key's spend ------------------------------------------


@pytest.fixture
def chat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as sim:
        sim.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        yield sim


def generate_calls(sim: LiteLLMSimulator) -> int:
    return sim.calls[("POST", "/key/generate")]


def idle(record: PersonalKey) -> bool:
    record.refresh_from_db()
    return record.step == ""


def person_at_spend(
    litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator, spend: float
) -> tuple[User, PersonalKey, str]:
    """A person whose key has spent `spend` of its 10 in LiteLLM; the portal's copy of the
    spend is still 0 (no sync since), so only a live read from LiteLLM knows it."""
    pairing = make_pairing(litellm_sim, chat_sim, chat_network=CHAT_NETWORK)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    assert record.status == "ready", record.last_error
    old_hash = key_of(record).token_hash
    assert old_hash is not None
    litellm_sim.set_spend(old_hash, spend)
    assert key_of(record).spend == 0
    return person, record, old_hash


def test_rotate_now_on_me_keeps_the_persons_spend(
    client: Client, litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator, start_worker
) -> None:
    person, record, old_hash = person_at_spend(litellm_sim, chat_sim, 9.5)
    worker = start_worker()
    client.force_login(person)

    response = client.post("/me/key/rotate/", follow=True)

    assert "being replaced" in response.content.decode()
    wait_for(lambda: idle(record) and key_of(record).token_hash != old_hash, worker)
    [new] = litellm_keys_of(litellm_sim, person)
    assert new["token"] != old_hash and litellm_sim.get_key(old_hash) is None
    assert (new["spend"], new["max_budget"]) == (9.5, 10.0)
    assert hash_token(pushed_raw_key(chat_sim, person.email)) == new["token"]
    page = client.get("/me/").content.decode()
    assert "$9.50 used of $10.00" in page


def test_the_admins_rotate_action_keeps_the_keys_spend(litellm_sim: LiteLLMSimulator, start_worker) -> None:
    server = LiteLLMServer(name="litellm-dev", base_url=litellm_sim.base_url, network="backend-dev")
    server.master_key = MASTER
    server.save()
    key = keys.key_create(
        server=server,
        alias="team-search",
        limits=limits.KeyLimits(max_budget=Decimal("10")),
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    old_hash = key.token_hash
    assert key.status == KeyStatus.ACTIVE and old_hash is not None
    litellm_sim.set_spend(old_hash, 9.5)
    start_worker()
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="ops@example.com", password="a long test password"))

    response = staff.post(
        reverse("admin:litellm_virtualkey_changelist"),
        {"action": "rotate_action", "_selected_action": [key.pk], "post": "yes"},
        follow=True,
    )

    assert "team-search: rotate: Rotated" in response.content.decode()
    key.refresh_from_db()
    assert key.token_hash != old_hash and litellm_sim.get_key(old_hash) is None
    new = litellm_sim.get_key(key.token_hash or "")
    assert new is not None and (new["spend"], new["max_budget"]) == (9.5, 10.0)
    assert key.spend == Decimal("9.5") and key.pending_changes == {}


def test_a_rotation_resumed_after_the_worker_was_killed_in_key_generate_keeps_the_spend(
    client: Client, litellm_sim: LiteLLMSimulator, chat_sim: LibreChatSimulator, start_worker
) -> None:
    person, record, old_hash = person_at_spend(litellm_sim, chat_sim, 9.5)
    client.force_login(person)
    litellm_sim.latency = 3.0  # LiteLLM slow: the worker is inside /key/generate when it dies
    first = start_worker()

    client.post("/me/key/rotate/")
    wait_for(lambda: generate_calls(litellm_sim) == 2, first)  # the replacement's POST is in LiteLLM
    first.kill()  # SIGKILL, inside /key/generate; LiteLLM still finishes the write
    litellm_sim.latency = 0.0
    record.refresh_from_db()
    assert record.step == "rotate_issue" and record.claimed_until is not None
    wait_for(lambda: len(litellm_keys_of(litellm_sim, person)) == 2, first)

    # Time passes: the dead worker's leases (the step's and the new key row's) run out.
    PersonalKey.objects.filter(pk=record.pk).update(claimed_until=None, next_attempt_at=timezone.now())
    # The engine recorded the replacement on the key row before LiteLLM heard of it.
    assert key_of(record).rotation_step == "generate" and key_of(record).rotation_new_key is not None
    VirtualKey.objects.filter(pk=key_of(record).pk).update(next_attempt_at=timezone.now())
    second = start_worker()
    personal_keys.personal_keys_due()

    wait_for(lambda: idle(record) and key_of(record).token_hash != old_hash, second)
    assert record.status == "ready", record.last_error
    [new] = litellm_keys_of(litellm_sim, person)
    assert (new["spend"], new["max_budget"]) == (9.5, 10.0)
    assert new["key_alias"] == f"portal-person-{person.pk}" and litellm_sim.get_key(old_hash) is None
    assert hash_token(pushed_raw_key(chat_sim, person.email)) == new["token"]


def test_a_staff_rotation_resumed_after_the_worker_was_killed_keeps_the_spend(
    litellm_sim: LiteLLMSimulator, start_worker
) -> None:
    server = LiteLLMServer(name="litellm-dev", base_url=litellm_sim.base_url, network="backend-dev")
    server.master_key = MASTER
    server.save()
    key = keys.key_create(
        server=server,
        alias="team-search",
        limits=limits.KeyLimits(max_budget=Decimal("10")),
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    old_hash = key.token_hash
    assert old_hash is not None
    litellm_sim.set_spend(old_hash, 9.5)
    litellm_sim.latency = 3.0
    first = start_worker()

    keys.key_rotate(key=key)  # what the admin action records; a worker picks it up
    wait_for(lambda: generate_calls(litellm_sim) == 2, first)  # the replacement's POST is in LiteLLM
    first.kill()  # SIGKILL, inside /key/generate; LiteLLM still writes the replacement
    litellm_sim.latency = 0.0
    wait_for(lambda: litellm_sim.key_count() == 2, first)

    VirtualKey.objects.filter(pk=key.pk).update(next_attempt_at=timezone.now())  # the lease ran out
    second = start_worker()
    litellm_tasks.keys_due()  # the beat job

    wait_for(lambda: VirtualKey.objects.filter(pk=key.pk, pending_action="").exists(), second)
    key.refresh_from_db()
    assert key.last_action_ok is True, key.last_action_detail
    assert key.token_hash != old_hash and litellm_sim.key_count() == 1
    new = litellm_sim.get_key(key.token_hash or "")
    assert new is not None and (new["spend"], new["key_alias"]) == (9.5, "team-search")


# --- Item 14: a stale LiteLLM proxy venv is rebuilt ------------------------------------------


def fake_venv(root: Path, version: str | None, *, binary: bool = True) -> Path:
    """What `make litellm-venv` leaves: bin/litellm and the installed distribution's metadata."""
    venv = root / "venv-litellm"
    if binary:
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "litellm").write_text("#!/bin/sh\necho 'LiteLLM: Proxy'\n")
        (venv / "bin" / "litellm").chmod(0o755)
    if version is not None:
        dist = venv / "lib" / "python3.11" / "site-packages" / f"litellm-{version}.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.4\nName: litellm\nVersion: {version}\n\nLiteLLM\n"
        )
    return venv


@pytest.mark.parametrize(
    ("version", "binary", "reason"),
    [
        ("1.50.0", True, "has LiteLLM 1.50.0, the pin is 1.106.2"),
        (None, True, "has bin/litellm but no installed litellm distribution"),
        ("1.106.2", False, "has no bin/litellm"),
        ("1.106.2", True, None),
    ],
)
def test_a_litellm_venv_of_another_version_is_stale(
    tmp_path: Path, version: str | None, binary: bool, reason: str | None
) -> None:
    venv = fake_venv(tmp_path, version, binary=binary)
    found = stale_reason(venv, REAL_LITELLM_VERSION)
    assert found == (None if reason is None else f"{venv} {reason}")


def make_litellm_venv(tmp_path: Path, venv: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`make litellm-venv` with a python3 whose `-m venv` and pip only record what they were
    asked (installing the real LiteLLM takes 40 s and the network); the check runs for real."""
    log = tmp_path / "calls.log"
    log.touch()
    pip = tmp_path / "fake-pip"
    pip.write_text(f'#!/bin/sh\necho "pip $*" >> {log}\n')
    pip.chmod(0o755)
    python = tmp_path / "python3"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        f'  mkdir -p "$3/bin" && cp {pip} "$3/bin/pip" && echo "venv $3" >> {log}; exit 0\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    done = subprocess.run(
        ["make", "-s", "litellm-venv", f"LITELLM_VENV={venv}", f"PYTHON={python}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, log.read_text().splitlines()


def test_make_litellm_venv_rebuilds_a_venv_of_another_litellm_version(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, "1.50.0")

    done, calls = make_litellm_venv(tmp_path, venv)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"has LiteLLM 1.50.0, the pin is {REAL_LITELLM_VERSION}: building it" in done.stdout
    assert calls == [f"venv {venv}", f"pip install --quiet litellm[proxy]=={REAL_LITELLM_VERSION}"]
    assert not (venv / "bin" / "litellm").exists() and not (venv / "lib").exists()  # built afresh


def test_make_litellm_venv_keeps_a_venv_of_the_pinned_version(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, REAL_LITELLM_VERSION)

    done, calls = make_litellm_venv(tmp_path, venv)

    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert calls == [] and (venv / "bin" / "litellm").exists()


def test_the_makefile_pins_the_version_the_real_proxy_fixture_checks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"LITELLM_VERSION := {REAL_LITELLM_VERSION}\n" in makefile


# --- Item 15: encryption-key rotation compares before it swaps --------------------------------


def wait_until_someone_waits_for_my_transaction(cursor: Any, seconds: float = 10) -> None:
    """PostgreSQL's lock table: another backend is blocked on this transaction's row lock."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted "
            "AND transactionid::text = pg_current_xact_id()::text"
        )
        if cursor.fetchone()[0]:
            return
        time.sleep(0.01)
    raise AssertionError(f"nobody waited for the writer's transaction in {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_key_rotation_never_overwrites_a_secret_a_worker_writes_meanwhile(settings) -> None:
    settings.FERNET_ACTIVE_KEYS = (OLD_FERNET_KEY,)
    servers = []
    for n in range(3):
        server = LiteLLMServer(
            name=f"litellm-{n}", base_url=f"http://litellm-{n}:4000", network="backend-dev"
        )
        server.master_key = f"sk-master-before-rotation-{n:02d}"
        server.save()
        servers.append(server)
    settings.FERNET_ACTIVE_KEYS = (NEW_FERNET_KEY, OLD_FERNET_KEY)  # the new key in front
    target = servers[1]
    written = "sk-master-a-worker-wrote-during-rotation"
    locked, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def worker_writes() -> None:
        # A second connection: takes the row, writes the new secret, and commits only once
        # the rotation, which read the old value before, waits to write that row.
        try:
            with transaction.atomic():
                row = LiteLLMServer.objects.select_for_update().get(pk=target.pk)
                row.master_key = written
                row.save(update_fields=["master_key"])
                locked.set()
                with connection.cursor() as cursor:
                    wait_until_someone_waits_for_my_transaction(cursor)
        except BaseException as exc:
            errors.append(exc)
            locked.set()
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=worker_writes)
    thread.start()
    assert locked.wait(10)
    result = crypto.reencrypt_column(
        LiteLLMServer, LiteLLMServer._meta.get_field("master_key"), batch_size=10
    )
    thread.join(10)

    assert done.is_set() and errors == []
    assert LiteLLMServer.objects.get(pk=target.pk).master_key.reveal() == written
    assert (result.rotated, result.skipped, result.already, result.failures) == (2, 1, 1, [])
    settings.FERNET_ACTIVE_KEYS = (NEW_FERNET_KEY,)  # the old key is gone: everything still reads
    assert [s.master_key.reveal() for s in LiteLLMServer.objects.order_by("pk")] == [
        "sk-master-before-rotation-00",
        written,
        "sk-master-before-rotation-02",
    ]
