"""What a person sees of their AI access on /me/: where they are on the way to it, their key,
the "Rotate now" button and the LibreChat session endpoint (/api/librechat/session).

Nothing here calls a vendor from the web request: a stored session is answered from the
database, otherwise a task on the LibreChat server's network queue refreshes it while we wait.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from integrations.librechat import sessions as librechat_sessions
from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.litellm.drift import key_enforced_limits
from integrations.litellm.models import LiteLLMModel
from portal.access.budget_mail import budget_alert_line
from portal.access.models import PersonalKey, PersonalKeyStatus
from portal.access.personal_keys import (
    FIRST_ISSUE_STEPS,
    PERSON_ROTATION_INTERVAL,
    ROTATION_STEPS,
    RotationRefused,
    personal_key_rotate,
)
from portal.accounts.models import User

SESSION_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class AccessStatus:
    state: str  # waiting | ready | needs_attention
    line: str  # "waiting: <why>", "ready", "needs attention: <what to do>"
    account: LibreChatAccount | None


def person_access_status(*, person: User) -> AccessStatus:
    if person.email_verified_at is None:
        return AccessStatus("waiting", "waiting: confirm your email address (we sent you a link)", None)
    if person.approved_at is None:
        return AccessStatus("waiting", "waiting: a staff member has to approve your signup", None)
    account = LibreChatAccount.objects.select_related("server").filter(person=person).first()
    if account is None:
        return AccessStatus("waiting", "waiting: no LibreChat server is set up yet", None)
    return AccessStatus(account.status, account.status_line, account)


# --- the session endpoint and logout -------------------------------------------------------


@dataclass(frozen=True)
class SessionAnswer:
    token: str | None
    expires_at: dt.datetime | None
    pending: bool
    reason: str


def person_librechat_session(*, person: User, wait_seconds: float = SESSION_WAIT_SECONDS) -> SessionAnswer:
    """The person's valid LibreChat access token. A stored one is answered from the database;
    otherwise a task on the LibreChat network refreshes or logs in while we wait briefly."""
    account = LibreChatAccount.objects.select_related("server").filter(person=person).first()
    if account is None or account.status != AccountStatus.READY:
        line = account.status_line if account else person_access_status(person=person).line
        return SessionAnswer(None, None, pending=False, reason=line)
    session = librechat_sessions.session_live(account=account)
    if session is None:
        done, result = librechat_sessions.session_ensure_and_wait(account=account, wait_seconds=wait_seconds)
        if not done:
            return SessionAnswer(
                None, None, pending=True, reason="LibreChat is taking a while; try again shortly"
            )
        session = librechat_sessions.session_live(account=account)
        if session is None:
            reason = result.get("error", "") if isinstance(result, dict) else ""
            return SessionAnswer(None, None, pending=True, reason=reason or "no LibreChat session yet")
    return SessionAnswer(session.access_token.reveal(), session.access_expires_at, pending=False, reason="")


@dataclass(frozen=True)
class KeyOverview:
    status_line: str
    key_name: str  # sk-...ab12: recognisable, not usable
    spend: float
    max_budget: float | None
    budget_percent: int | None
    budget_reset_at: dt.datetime | None  # when LiteLLM next zeroes the spend (budget_duration)
    models: list[str]
    expires: dt.datetime | None
    can_rotate: bool
    rotating: bool
    reported_at: dt.datetime | None = None  # when LiteLLM last told us the budget and spend
    budget_alert: str = ""  # "You have used 80% of your budget this period." (budget_mail)
    budget_duration: str = ""  # what the budget period is (LiteLLM's budget_duration)


def personal_key_overview(*, person: Any) -> KeyOverview | None:
    record = (
        PersonalKey.objects.select_related("key", "pairing__litellm_server", "plan")
        .filter(person_id=person.pk)
        .first()
    )
    if record is None:
        return None
    key = record.key
    if record.status == PersonalKeyStatus.NEEDS_ATTENTION:
        line = "needs attention: staff have been told"
    elif record.suspended:
        line = "suspended"
    elif key is None or record.step in FIRST_ISSUE_STEPS:
        line = "waiting: your key is being set up"
    else:
        line = "ready"
    # What LiteLLM enforces (as of the last sync), even where it was changed there by hand and
    # staff have not yet restored ours or accepted it (integrations.litellm.drift).
    enforced = key_enforced_limits(key) if key is not None else None
    models = list(enforced.allowed_models) if enforced is not None and enforced.allowed_models else []
    if key is not None and not models:
        models = sorted(
            set(
                LiteLLMModel.objects.filter(server=record.pairing.litellm_server).values_list(
                    "model_name", flat=True
                )
            )
        ) or ["every model of the gateway"]
    spend = float(key.spend) if key is not None else 0.0
    budget = float(enforced.max_budget) if enforced is not None and enforced.max_budget is not None else None
    percent = min(100, round(100 * spend / budget)) if budget else None
    return KeyOverview(
        status_line=line,
        key_name=key.key_name if key is not None else "",
        spend=spend,
        max_budget=budget,
        budget_percent=percent,
        budget_reset_at=key.budget_reset_at if key is not None else None,
        models=models,
        expires=key.expires if key is not None else None,
        can_rotate=key is not None
        and not record.suspended
        and record.step == ""
        and record.rotation_requested_at is None,
        rotating=record.step in ROTATION_STEPS or record.rotation_requested_at is not None,
        reported_at=key.last_synced_at if key is not None else None,
        budget_alert=budget_alert_line(key_id=key.pk, period_reset_at=key.budget_reset_at) if key else "",
        budget_duration=enforced.budget_duration if enforced is not None else "",
    )


def person_rotate_now(*, person: Any) -> str:
    """ "Rotate now" on the person's own page."""
    record = PersonalKey.objects.filter(person_id=person.pk).first()
    if record is None:
        return "You have no key yet."
    if record.rotated_at is not None and timezone.now() - record.rotated_at < PERSON_ROTATION_INTERVAL:
        minutes = int(PERSON_ROTATION_INTERVAL.total_seconds() // 60)
        return f"Not rotated: your key was replaced less than {minutes} minutes ago."
    try:
        personal_key_rotate(record=record)
    except RotationRefused as exc:
        return f"Not rotated: {exc}."
    return "Your key is being replaced; LibreChat gets the new one before the old one stops working."
