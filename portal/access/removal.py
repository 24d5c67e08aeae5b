"""A deleted person's keys and LibreChat account, removed through a `PersonRemoval` row.

The person row is gone by the time a task runs, so the row carries what the steps need: the
key hashes (deleted in LiteLLM first, on its network's queue), then the LibreChat login (the
account is deleted as the person, where LibreChat allows it; the login is dropped once used).
"""

from __future__ import annotations

import logging
import sys

from django.db import transaction
from django.utils import timezone

from integrations.http import VendorError
from integrations.librechat.account_removal import Deletion, account_delete_as_person
from integrations.librechat.models import LibreChatAccount
from integrations.litellm import key_work
from integrations.litellm import keys as litellm_keys
from integrations.litellm.models import KeyAction, KeyStatus, VirtualKey
from portal.access.models import PersonalKey, PersonRemoval, RemovalStatus
from portal.accounts.models import User
from portal.core.queues import network_queue_name, wake_after_commit
from portal.core.work import ENQUEUE_LEASE, Outcome, RetryPolicy, WorkResult, hand_out_due
from portal.crypto import Secret

log = logging.getLogger(__name__)

# A removal is retried from a minute, doubling to 30 minutes, and never given up: its row
# (Person removals in the admin) shows staff the last error meanwhile.
REMOVAL_RETRY = RetryPolicy(base_seconds=60, cap_seconds=30 * 60, max_attempts=sys.maxsize)


def person_removal_start(*, person: User) -> PersonRemoval | None:
    """Called before the person row is deleted: keep what the removal still needs."""
    record = PersonalKey.objects.select_related("pairing__litellm_server").filter(person=person).first()
    account = LibreChatAccount.objects.select_related("server").filter(person=person).first()
    if record is None and account is None:
        return None
    keys = [record.key] if record and record.key else []
    # Keys the person owns that no record names any more (owner is indexed; the marker confirms).
    keys += list(
        VirtualKey.objects.select_related("server")
        .filter(owner=person.email, metadata__portal_person_id=person.pk)
        .exclude(pk__in=[k.pk for k in keys])
        .exclude(status=KeyStatus.DELETED)
    )
    removal = PersonRemoval(
        email=person.email,
        litellm_server=record.pairing.litellm_server if record else (keys[0].server if keys else None),
        librechat_server=account.server if account else None,
        key_hashes=[k.token_hash for k in keys if k.token_hash],
        step="keys" if keys else "librechat",
        next_attempt_at=timezone.now() + ENQUEUE_LEASE,
    )
    if account is not None and account.password is not None:
        removal.librechat_password = Secret(account.password.reveal())
    removal.save()
    # The raw keys go now: only the hashes are needed to delete them.
    litellm_keys.keys_forget_secrets(key_ids=[k.pk for k in keys])
    _removal_enqueue(removal)
    return removal


def _removal_queue(removal: PersonRemoval) -> str | None:
    if removal.step == "keys" and removal.litellm_server is not None:
        return network_queue_name(removal.litellm_server.network)
    if removal.step == "librechat" and removal.librechat_server is not None:
        return network_queue_name(removal.librechat_server.network)
    return None


def _removal_enqueue(removal: PersonRemoval) -> None:
    queue = _removal_queue(removal)
    if queue is None:
        return
    removal_id = removal.pk
    wake_after_commit("access.person_removal", kwargs={"removal_id": removal_id}, queue=queue)


def person_removal_advance(*, removal_id: int) -> WorkResult:
    """One step of a removal: the keys on LiteLLM's queue, then the account on LibreChat's."""
    removal = (
        PersonRemoval.objects.select_related("litellm_server", "librechat_server")
        .filter(pk=removal_id)
        .first()
    )
    if removal is None or removal.status != RemovalStatus.WORKING:
        return WorkResult("person_removal", removal_id, Outcome.IDLE, "nothing to do")
    step = removal.step
    try:
        if step == "keys":
            _removal_keys(removal)
            with transaction.atomic():
                removal.step = "librechat"
                removal.attempts = 0
                removal.detail = "LiteLLM keys deleted"
                removal.save()
                _removal_enqueue(removal)
            return WorkResult("person_removal", removal_id, Outcome.DONE, removal.detail, step, removal.step)
        _removal_librechat(removal)
    except (_RemovalRetry, VendorError) as exc:
        removal.attempts += 1
        removal.detail = str(exc)[:2000]
        removal.next_attempt_at = REMOVAL_RETRY.next_attempt_at(removal.attempts)
        removal.save()
        return WorkResult("person_removal", removal_id, Outcome.RETRY, f"retry: {exc}", step, step)
    removal.save()
    outcome = Outcome.DONE if removal.status == RemovalStatus.DONE else Outcome.FAILED
    return WorkResult("person_removal", removal_id, outcome, removal.detail, step)


class _RemovalRetry(Exception):
    pass


def _removal_keys(removal: PersonRemoval) -> None:
    pending = []
    for token_hash in removal.key_hashes:
        key = VirtualKey.objects.filter(server=removal.litellm_server, token_hash=token_hash).first()
        if key is None or key.status == KeyStatus.DELETED:
            continue
        if not key.pending_action:
            litellm_keys.key_delete(key=key, enqueue=False)
        elif key.pending_action != KeyAction.DELETE:
            pending.append(f"{key.key_name}: {key.get_pending_action_display()} pending first")
            continue
        key_work.key_apply_pending(key_id=key.pk)
        key.refresh_from_db()
        if key.status != KeyStatus.DELETED:
            pending.append(f"{key.key_name}: {key.last_action_detail or 'not deleted yet'}")
    if pending:
        raise _RemovalRetry("LiteLLM keys not deleted yet: " + "; ".join(pending))


def _removal_librechat(removal: PersonRemoval) -> None:
    """DELETE /api/user/delete as the person, where LibreChat allows it (ALLOW_ACCOUNT_DELETION)."""
    server = removal.librechat_server
    password = removal.librechat_password
    if server is None or password is None:
        _removal_finish(
            removal, RemovalStatus.DONE, "LiteLLM keys deleted; there was no LibreChat account to delete"
        )
        return
    answer = account_delete_as_person(server=server, email=removal.email, password=password.reveal())
    if answer.outcome == Deletion.NO_ACCOUNT:
        _removal_finish(removal, RemovalStatus.DONE, "LibreChat had no account for this address any more")
    elif answer.outcome == Deletion.LOGIN_REFUSED:
        _removal_staff(removal, f"the portal could not sign in to it ({answer.detail})")
    elif answer.outcome == Deletion.NOT_ALLOWED:
        _removal_staff(removal, "LibreChat does not allow account deletion (ALLOW_ACCOUNT_DELETION=false)")
    else:
        _removal_finish(removal, RemovalStatus.DONE, "LiteLLM keys and the LibreChat account deleted")


def _removal_staff(removal: PersonRemoval, why: str) -> None:
    _removal_finish(
        removal,
        RemovalStatus.STAFF,
        f"The LibreChat account {removal.email} is still there: {why}. Remove it with "
        f"`npm run delete-user {removal.email}` in the LibreChat container.",
    )


def _removal_finish(removal: PersonRemoval, status: str, detail: str) -> None:
    removal.status = status
    removal.detail = detail
    removal.step = "done"
    removal.next_attempt_at = None
    removal.librechat_password = None  # the stored secret goes with the account


def removals_due(*, limit: int = 500) -> int:
    """The beat: removals whose next attempt is due go to their step's queue again."""
    return hand_out_due(
        PersonRemoval.objects.select_related("litellm_server", "librechat_server").filter(
            status=RemovalStatus.WORKING
        ),
        wake=_removal_enqueue,
        limit=limit,
    )
