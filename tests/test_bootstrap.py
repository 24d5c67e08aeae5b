from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from portal.accounts.models import User


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_bootstrap_is_idempotent_and_never_overwrites_an_admin_edit() -> None:
    assert "created" in run("bootstrap")
    entry = PeriodicTask.objects.get(name="heartbeat: default")
    entry.enabled = False  # an admin turned it off
    entry.save()

    assert "already there" in run("bootstrap")
    assert PeriodicTask.objects.filter(name="heartbeat: default").count() == 1
    assert PeriodicTask.objects.get(name="heartbeat: default").enabled is False


@pytest.mark.django_db
def test_ensure_admin_prints_a_generated_password_once(monkeypatch) -> None:
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    output = run("ensure_admin")
    password = output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    admin = User.objects.get(email="ops@example.com")
    assert admin.is_superuser and admin.check_password(password)
    assert "already exists" in run("ensure_admin")


@pytest.mark.django_db
def test_ensure_admin_takes_the_password_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery")
    output = run("ensure_admin")
    assert "correct horse" not in output
    assert User.objects.get(email="root@example.com").check_password("correct horse battery")
