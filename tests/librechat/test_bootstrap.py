"""`manage.py bootstrap` creates the LibreChat server the environment names, once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from integrations.librechat.bootstrap import librechat_server as server_step
from integrations.librechat.models import LibreChatServer
from portal.connectivity.bootstrap import configured_server_checks
from portal.connectivity.models import Target


def librechat_server(environ: dict[str, str]) -> list[str]:
    """The two bootstrap steps a start runs for LibreChat: the server row (whose check comes
    with it), then every configured check brought in step."""
    return server_step(environ) + configured_server_checks(environ)


pytestmark = pytest.mark.django_db

SEED = {
    "LIBRECHAT_API_URL": "http://librechat-api:3080/",
    "LIBRECHAT_PUBLIC_URL": "https://chat.example.com",
    "LIBRECHAT_NETWORK": "backend-prod",
}


def test_it_creates_the_server_from_the_seed_variables() -> None:
    lines = librechat_server(SEED)
    server = LibreChatServer.objects.get()
    assert lines == [
        "LibreChat server 'librechat-api' created (http://librechat-api:3080, network backend-prod)",
        "check 'LibreChat librechat-api: /health' of http://librechat-api:3080/health from backend-prod in place",
    ]
    check = Target.objects.get(configured_by=f"librechat:{server.pk}")
    assert list(check.placements.values_list("network__name", flat=True)) == ["backend-prod"]
    assert (server.api_url, server.public_url, server.network) == (
        "http://librechat-api:3080",
        "https://chat.example.com",
        "backend-prod",
    )


def test_it_never_overwrites_an_admin_edit() -> None:
    librechat_server(SEED)
    LibreChatServer.objects.update(public_url="https://edited.example.com")
    assert librechat_server(SEED) == [
        "LibreChat server at http://librechat-api:3080 already there",
        "check 'LibreChat librechat-api: /health' of http://librechat-api:3080/health from backend-prod in place",
    ]
    assert LibreChatServer.objects.get().public_url == "https://edited.example.com"


def test_it_defaults_the_network_to_backend_dev() -> None:
    librechat_server({"LIBRECHAT_API_URL": "http://librechat-api:3080"})
    assert LibreChatServer.objects.get().network == "backend-dev"


def test_it_creates_nothing_without_a_url_or_with_a_bad_one() -> None:
    assert "not set" in librechat_server({})[0]
    assert "not an http(s) URL" in librechat_server({"LIBRECHAT_API_URL": "librechat-api:3080"})[0]
    assert not LibreChatServer.objects.exists()


def test_it_registers_the_beat_job_that_picks_up_due_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBRECHAT_API_URL", "http://librechat-api:3080")
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    entry = PeriodicTask.objects.get(name="librechat: provision due accounts")
    assert entry.task == "librechat.accounts_provision_due" and entry.queue == "default"
    assert "LibreChat server 'librechat-api' created" in out.getvalue()
