"""A person's key, the LibreChat steps: put the key into the person's LibreChat and check it
is there, as the person (integrations.librechat.user_keys). Run by portal.access.key_steps on
the LibreChat server's network queue; each returns the next step."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.librechat import user_keys
from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.litellm.models import VirtualKey
from portal.access.models import PersonalKey
from portal.access.personal_keys import Step, StepFailed, StepRetry


def _account(record: PersonalKey) -> LibreChatAccount:
    account = LibreChatAccount.objects.select_related("server").filter(person_id=record.person_id).first()
    if account is None:
        raise StepFailed("the person has no LibreChat account")
    if account.status != AccountStatus.READY:
        raise StepRetry(f"the LibreChat account is {account.status_line}")
    return account


def _as_person(record: PersonalKey, call: Callable[[LibreChatAccount], Any]) -> Any:
    """A call to LibreChat as the person; a refused login or a dropped session is retried."""
    account = _account(record)
    try:
        return call(account)
    except (user_keys.LoginRefused, user_keys.SessionRejected) as exc:
        raise StepRetry(str(exc)) from None


def _push(record: PersonalKey, key: VirtualKey | None) -> None:
    if key is None:
        raise StepFailed("no key to put into LibreChat")
    raw = key.raw_key
    if raw is None:
        raise StepFailed("the portal no longer holds this key's value; rotate to issue a new key")
    name = record.pairing.endpoint_name
    _as_person(
        record,
        lambda account: user_keys.user_key_put(
            account=account, endpoint_name=name, api_key=raw.reveal(), expires_at=key.expires
        ),
    )
    record.pushed_at = timezone.now()


def _suspended(record: PersonalKey) -> bool:
    return bool(PersonalKey.objects.filter(pk=record.pk, suspended=True).exists())


def step_push(record: PersonalKey) -> str | None:
    if _suspended(record):
        # Signing in as a deactivated person would give them a LibreChat session again: the
        # key is blocked instead, and pushed on reactivation (_next_step).
        return None
    _push(record, record.key)
    return Step.VERIFY_CHAT


def step_rotate_push(record: PersonalKey) -> str:
    _push(record, record.key)
    return Step.ROTATE_VERIFY_CHAT


def chat_expiry_matches(reported: str | None, expires: dt.datetime | None) -> bool:
    if reported is None:
        return False
    if expires is None:
        return reported == "never"
    when = parse_datetime(reported)
    return when is not None and abs((when - expires).total_seconds()) < 1


def _verify_chat(record: PersonalKey, key: VirtualKey | None, push_step: str) -> None:
    if key is None:
        raise StepFailed("no key to check in LibreChat")
    name = record.pairing.endpoint_name
    reported = _as_person(
        record, lambda account: user_keys.user_key_expiry(account=account, endpoint_name=name)
    )
    record.chat_expires_at = (reported or "")[:40]
    if not chat_expiry_matches(reported, key.expires):
        _note_chat_drift(record, reported)
        raise StepRetry(
            f"LibreChat reports {reported or 'no key'} under '{name}'; putting the key in again",
            back_to=push_step,
        )


def _note_chat_drift(record: PersonalKey, reported: str | None) -> None:
    """A recheck (not the first push) found LibreChat's copy gone or wrong: the reconcile
    report shows it, already repaired by the push that follows."""
    if record.verified_at is None or record.pushed_at is None or record.pushed_at > record.verified_at:
        return
    from portal.access.models import DriftFinding, DriftKind

    now = timezone.now()
    DriftFinding.objects.create(
        pairing=record.pairing,
        kind=DriftKind.CHAT_KEY_MISSING if reported is None else DriftKind.CHAT_KEY_EXPIRED,
        person_id=record.person_id,
        token_hash=record.key.token_hash or "" if record.key else "",
        detail=f"LibreChat reported {reported or 'no key'} under '{record.pairing.endpoint_name}'",
        safe_to_repair=True,
        found_at=now,
        fixed_at=now,
        fix_outcome="the key was put into LibreChat again",
    )


def step_verify_chat(record: PersonalKey) -> str | None:
    if _suspended(record):
        return None  # as in step_push
    _verify_chat(record, record.key, Step.PUSH)
    return Step.VERIFY_KEY


def step_rotate_verify_chat(record: PersonalKey) -> str:
    _verify_chat(record, record.key, Step.ROTATE_PUSH)
    return Step.ROTATE_VERIFY_KEY
