"""Configuration from the environment, checked in fresh processes as an operator meets it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PORTAL_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def production_block() -> dict[str, str]:
    """The KEY=value lines of .env.example's production block, uncommented as it says to."""
    text = (ROOT / ".env.example").read_text()
    block = text.split("# --- Production", 1)[1].split("\n# --- ", 1)[0]
    return dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", block, flags=re.MULTILINE))


def test_a_copy_of_env_example_sets_nothing() -> None:
    """Copied to .env it leaves the embedded default alone: every line is a comment."""
    lines = [line for line in (ROOT / ".env.example").read_text().splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("#")] == []
    assert production_block()["DJANGO_DEBUG"] == "false" and len(production_block()) >= 10


def with_own_secrets(env: dict[str, str]) -> dict[str, str]:
    """The block with its published example secrets replaced, as an operator must (production
    refuses the published ones: tests/security/test_example_secrets.py)."""
    own = {
        "DJANGO_SECRET_KEY": "own-" + "x1Y2z3" * 10,
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://portal:own-db-password@postgres:5432/portal",
        "EMAIL_URL": "smtp+tls://portal@example.com:own-mail-password@smtp.example.com:587",
    }
    return {**env, **{name: value for name, value in own.items() if name in env}}


def test_the_production_block_of_env_example_passes_check_deploy(tmp_path: Path) -> None:
    env = with_own_secrets(production_block())
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "FERNET_KEYS"])
def test_production_names_each_missing_secret_in_one_line(missing: str, tmp_path: Path) -> None:
    env = production_block()
    del env[missing]
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert missing in result.stderr


def test_production_accepts_librechat_encryption_key_instead_of_fernet_keys(tmp_path: Path) -> None:
    env = with_own_secrets(production_block())
    del env["FERNET_KEYS"]
    env["LIBRECHAT_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FERNET_KEYS": "not-a-key"}, "FERNET_KEYS entry 1 of 1 is not a valid Fernet key"),
        ({"LIBRECHAT_ENCRYPTION_KEY": "hunter2"}, "LIBRECHAT_ENCRYPTION_KEY is not a valid Fernet key"),
        ({"DATABASE_URL": "mongodb://x/y"}, "DATABASE_URL must start with postgres://"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
    ],
)
def test_bad_configuration_ends_in_one_clear_line(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path, unused_tcp_port: int) -> None:
    env = {"DATABASE_URL": f"postgres://postgres:pw-secret@127.0.0.1:{unused_tcp_port}/portal"}
    result = manage("migrate", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("database unreachable: ") and "Connection refused" in result.stderr
    assert result.stderr.count("\n") == 1 and "pw-secret" not in result.stderr


def test_the_embedded_default_runs_on_sqlite_with_its_broker_and_results_beside_the_database(
    tmp_path: Path,
) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CELERY_RESULT_BACKEND)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        f"portal-sqlite+sqlite:///{tmp_path}/broker.sqlite3",
        f"db+sqlite:///{tmp_path}/results.sqlite3",
    ], result.stderr
    assert (tmp_path / "fernet.key").exists()


def test_celery_broker_url_wins_over_redis_url(tmp_path: Path) -> None:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.CELERY_BROKER_URL, s.CELERY_RESULT_BACKEND)"
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(tmp_path),
        "REDIS_URL": "redis://cache:6379/0",
        "CELERY_BROKER_URL": "redis://broker:6379/1",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["redis://broker:6379/1", "redis://cache:6379/0"], result.stderr


def test_a_unix_socket_database_url_in_libpq_form_connects(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.db import connection as c; "
        "c.ensure_connection(); print(c.settings_dict['HOST'])"
    )
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "/var/run/postgresql", result.stderr
