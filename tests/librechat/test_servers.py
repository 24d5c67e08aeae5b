"""A LibreChat server: its "Test connection" as the typed ServerCheck both vendors share, the
address rule for people's credentials, and the 429 gates staff open."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from integrations.checks import ServerCheck
from integrations.librechat import gate, servers
from integrations.librechat.client import LibreChatClient
from integrations.librechat.models import LibreChatServer
from integrations.librechat.tasks import server_check_task
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db


def test_a_server_that_takes_new_accounts_is_ok(sim: LibreChatSimulator, server: LibreChatServer) -> None:
    check = servers.server_check(server=server)
    assert isinstance(check, ServerCheck)
    assert check.vendor == "LibreChat" and check.reachable and check.ok
    assert check.diagnosis == f"LibreChat at {server.api_url} answers; ready for new accounts"
    assert check.details["registration"] == "open" and check.details["email login"] == "on"
    assert check.version == ""  # this LibreChat's config names no version


def test_closed_registration_answers_but_is_not_ok(sim: LibreChatSimulator, server: LibreChatServer) -> None:
    sim.configure(allow_registration=False)
    check = servers.server_check(server=server)
    assert check.reachable and not check.ok
    assert "registration is closed (ALLOW_REGISTRATION)" in check.diagnosis
    assert check.details["registration"] == "closed"


def test_an_unreachable_server_is_neither_reachable_nor_ok(db: None) -> None:
    server = LibreChatServer.objects.create(name="gone", api_url="http://127.0.0.1:9", network="backend-dev")
    check = servers.server_check(server=server)
    assert not check.reachable and not check.ok and check.diagnosis


def test_a_server_that_answers_with_an_error_is_reachable_but_not_ok(
    sim: LibreChatSimulator, server: LibreChatServer
) -> None:
    sim.set_faults(status_override=503)
    check = servers.server_check(server=server)
    assert check.reachable and not check.ok and "503" in check.diagnosis


def test_the_version_is_reported_where_the_config_names_one(
    sim: LibreChatSimulator, server: LibreChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LibreChatClient.config

    def with_version(self: LibreChatClient) -> Any:
        return dataclasses.replace(real(self), version="v0.7.9")

    monkeypatch.setattr(LibreChatClient, "config", with_version)
    assert servers.server_check(server=server).version == "v0.7.9"


def test_the_task_returns_the_check_as_plain_words(sim: LibreChatSimulator, server: LibreChatServer) -> None:
    result = server_check_task.run(server.pk)
    assert result == servers.server_check(server=server).as_result()
    assert result["ok"] is True and result["vendor"] == "LibreChat"
    json.dumps(result)  # it sits in the result backend


def test_people_credentials_wait_for_a_confirmed_address(server: LibreChatServer) -> None:
    assert servers.client_for(server) is not None
    server.api_url = "http://elsewhere.example:3080"
    server.save()
    with pytest.raises(servers.AddressUnconfirmed) as refused:
        servers.client_for(server)
    assert refused.value.retryable
    assert servers.address_confirm(server=server) is True
    assert servers.address_confirm(server=server) is False
    assert servers.client_for(server) is not None


def test_staff_open_the_gates(server: LibreChatServer) -> None:
    later = timezone.now() + dt.timedelta(minutes=5)
    LibreChatServer.objects.filter(pk=server.pk).update(login_blocked_until=later, reset_blocked_until=later)
    server.refresh_from_db()
    assert gate.gates_closed(server=server) == [
        f"LOGIN_MAX until {later:%H:%M:%S}",
        f"RESET_PASSWORD_MAX until {later:%H:%M:%S}",
    ]
    assert gate.gate_until(server=server, limiter="login") == later
    gate.gates_open(server=server)
    server.refresh_from_db()
    assert gate.gates_closed(server=server) == []
    assert gate.gate_until(server=server, limiter="login") is None
