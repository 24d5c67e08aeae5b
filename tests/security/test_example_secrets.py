"""Production started with the secrets anyone can read in `.env.example`, checked as the operator
meets it: `manage.py check` in a fresh process.

Item 11: every secret `.env.example` publishes (commented out or not: the secret key, the Fernet
key, the master key, `change-me` in the database and mail URLs) stops production with one line
naming the variable, never echoing the value; the same settings with their own secrets start.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet

from tests.test_settings import ROOT, manage

_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
_SECRET_NAME = re.compile(r"SECRET|KEY|PASSWORD|TOKEN")


def published_secrets() -> list[tuple[str, str]]:
    """(variable, value) for each secret written in .env.example, commented out or not."""
    found = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if not match:
            continue
        name, value = match[1], match[2].strip()
        if not value or value.startswith("<"):  # a placeholder describing the value, not one
            continue
        if _SECRET_NAME.search(name) or (
            name.endswith("_URL") and "://" in value and urlsplit(value).password
        ):
            found.append((name, value))
    return found


def own_production_settings() -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "EMAIL_URL": f"smtp+tls://portal@example.com:{secrets.token_urlsafe(16)}@smtp.example.com:587",
        "LITELLM_MASTER_KEY": f"sk-{secrets.token_urlsafe(24)}",
    }


def test_the_example_file_publishes_the_secrets_this_test_expects() -> None:
    names = {name for name, _ in published_secrets()}
    # If .env.example stops publishing one, this list shrinks; it must never silently be empty.
    assert {"DJANGO_SECRET_KEY", "FERNET_KEYS", "DATABASE_URL", "EMAIL_URL"} <= names


def test_production_with_its_own_secrets_starts(tmp_path: Path) -> None:
    result = manage("check", env=own_production_settings(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "value"), published_secrets(), ids=[n for n, _ in published_secrets()])
def test_production_refuses_each_published_secret_in_one_line(name: str, value: str, tmp_path: Path) -> None:
    env = {**own_production_settings(), name: value}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("configuration error: ") and result.stderr.count("\n") == 1
    assert f"example values published in .env.example for {name};" in result.stderr
    secret = urlsplit(value).password if name.endswith("_URL") else value
    assert secret and secret not in result.stderr


def test_a_published_fernet_key_is_refused_among_others_too(tmp_path: Path) -> None:
    published = dict(published_secrets())["FERNET_KEYS"]
    env = {**own_production_settings(), "FERNET_KEYS": f"{Fernet.generate_key().decode()},{published}"}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2 and "for FERNET_KEYS;" in result.stderr


def test_development_still_runs_with_the_examples(tmp_path: Path) -> None:
    env = dict(published_secrets())
    env.pop("DATABASE_URL")  # the example's host `postgres` exists only inside compose
    env["DJANGO_DEBUG"] = "true"
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
