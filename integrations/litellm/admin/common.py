"""What the LiteLLM admins share: how long a person waits for LiteLLM, sending key work and
waiting for it, and the words for an outcome.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.contrib import messages

from integrations.litellm import tasks
from integrations.litellm.models import VirtualKey
from portal.core.task_wait import waiting

log = logging.getLogger(__name__)


def admin_wait_seconds() -> float:
    """How long a person waits for LiteLLM before the action is shown as pending."""
    from django.conf import settings

    return float(getattr(settings, "LITELLM_ADMIN_WAIT_SECONDS", 5.0))


def send_keys(key_ids: list[int]) -> dict[int, tuple[Any, str]]:
    """Send key_apply_pending for each key to its network queue: {key id: (AsyncResult, queue)}.
    A key the broker refused is left out: the row holds the work, the beat job sends it later."""
    rows = dict(VirtualKey.objects.filter(pk__in=key_ids).values_list("pk", "server__network"))
    from portal.core.queues import network_queue_name

    sent = {}
    for pk in key_ids:
        if pk not in rows:
            continue
        queue = network_queue_name(rows[pk])
        try:
            sent[pk] = (tasks.key_apply_pending.apply_async(kwargs={"key_id": pk}, queue=queue), queue)
        except Exception:  # broker down: the row holds the work; the beat job sends it later
            log.warning("could not enqueue key %s; the retry job will pick it up", pk, exc_info=True)
    return sent


def dispatch_keys(
    key_ids: list[int], wait_seconds: float | None = None, *, why: dict[int, str] | None = None
) -> dict[int, dict[str, Any] | None]:
    """Send key_apply_pending for each key to its network queue, wait (shared deadline).
    A key with no answer in time maps to None, and `why` (if given) gets the reason, from the
    task's state and its worker's heartbeat: no worker, a queue, or LiteLLM slow to answer."""
    sent = send_keys(key_ids)
    deadline = time.monotonic() + (admin_wait_seconds() if wait_seconds is None else wait_seconds)
    results: dict[int, dict[str, Any] | None] = {}
    for pk, (async_result, queue) in sent.items():
        remaining = max(0.05, deadline - time.monotonic())
        try:
            value = async_result.get(timeout=remaining, propagate=False, disable_sync_subtasks=False)
        except CeleryTimeout:
            value = None
        except Exception:  # the result backend is unreachable: report pending, the row knows
            log.warning("no result for key %s", pk, exc_info=True)
            value = None
        results[pk] = value if isinstance(value, dict) else None
        if results[pk] is None and why is not None:
            why[pk] = waiting(queue=queue, task_id=async_result.id, vendor="LiteLLM").sentence
    return results


def outcome_words(result: dict[str, Any] | None, waiting: str = "") -> tuple[int, str]:
    """An outcome in words; `waiting` (task_wait's sentence) says why there is none yet."""
    if result is None:
        if waiting:
            return messages.WARNING, f"pending: {waiting}; the outcome will show on the key"
        return messages.WARNING, "pending: no answer yet; the outcome will show on the key"
    if result.get("ok") is True:
        return messages.SUCCESS, str(result.get("detail") or "done")
    if result.get("ok") is None:
        return messages.WARNING, f"will be retried: {result.get('detail')}"
    return messages.ERROR, f"failed: {result.get('detail')}"
