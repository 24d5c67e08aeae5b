"""Tasks take ids and hand back no secrets (results sit in the result backend)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from integrations.librechat.models import LibreChatAccount, LibreChatSession
from integrations.librechat.tasks import account_provision_task, session_ensure_task, session_logout_task
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db


def test_it_returns_outcomes_without_passwords_or_tokens(
    sim: LibreChatSimulator, make_account: Callable[..., LibreChatAccount]
) -> None:
    account = make_account()
    results = [account_provision_task.run(account.pk), session_ensure_task.run(account.pk)]
    session = LibreChatSession.objects.get(account=account)
    secrets = [account.password.reveal(), session.access_token.reveal(), session.refresh_token.reveal()]
    text = json.dumps(results)
    assert results[0] == {"status": "ready"} and results[1]["ok"] is True
    assert not any(secret in text for secret in secrets)


def test_it_explains_a_missing_or_unready_account(make_account: Callable[..., LibreChatAccount]) -> None:
    assert session_ensure_task.run(999_999) == {"ok": False, "error": "no such account"}
    result = session_ensure_task.run(make_account().pk)
    assert result["ok"] is False and "waiting" in result["error"]


def test_it_reports_a_closed_login_gate_with_when_it_opens(
    sim: LibreChatSimulator, make_account: Callable[..., LibreChatAccount]
) -> None:
    account = make_account()
    account_provision_task.run(account.pk)
    LibreChatSession.objects.all().delete()
    sim.configure(login_max=0)
    result = session_ensure_task.run(account.pk)
    assert result["ok"] is False and "LOGIN_MAX" in result["error"] and result["retry_at"]


def test_it_logs_out_nothing_twice(
    sim: LibreChatSimulator, make_account: Callable[..., LibreChatAccount]
) -> None:
    account = make_account()
    account_provision_task.run(account.pk)
    session = LibreChatSession.objects.get(account=account)
    LibreChatSession.objects.filter(pk=session.pk).update(revoked_at=session.established_at)
    assert session_logout_task.run(session.pk) == "logged out"
    assert session_logout_task.run(session.pk) == "nothing to do"
