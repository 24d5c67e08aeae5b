"""`manage.py bootstrap` makes the LiteLLM server from the seeds' environment names."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from integrations.litellm.models import LiteLLMServer

pytestmark = pytest.mark.django_db


def run() -> str:
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_it_creates_the_server_from_the_seed_names_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_API_URL", "http://litellm:4000/v1")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-seed-master-0123456789")
    monkeypatch.delenv("LITELLM_NETWORK", raising=False)
    output = run()
    assert "LiteLLM server 'litellm' at http://litellm:4000 on network backend-dev created" in output
    assert "sk-seed-master" not in output
    server = LiteLLMServer.objects.get()
    assert server.master_key.reveal() == "sk-seed-master-0123456789" and server.network == "backend-dev"
    server.network = "backend-prod"  # an admin edit
    server.save()
    assert "already there" in run()
    assert LiteLLMServer.objects.get().network == "backend-prod"
    assert PeriodicTask.objects.filter(task="litellm.servers_sync").count() == 1
    assert PeriodicTask.objects.filter(task="litellm.keys_due").count() == 1


def test_it_takes_the_network_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_API_URL", "http://litellm:4000")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-seed-master-0123456789")
    monkeypatch.setenv("LITELLM_NETWORK", "backend-prod")
    run()
    assert LiteLLMServer.objects.get().network == "backend-prod"


def test_it_creates_nothing_without_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_API_URL", "http://litellm:4000")
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    assert "nothing to create" in run()
    assert not LiteLLMServer.objects.exists()
