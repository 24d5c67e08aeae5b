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
from integrations.litellm.models import (
    VirtualKey,
)

log = logging.getLogger(__name__)


def admin_wait_seconds() -> float:
    """How long a person waits for LiteLLM before the action is shown as pending."""
    from django.conf import settings

    return float(getattr(settings, "LITELLM_ADMIN_WAIT_SECONDS", 5.0))


def dispatch_keys(key_ids: list[int], wait_seconds: float | None = None) -> dict[int, dict[str, Any] | None]:
    """Send key_apply_pending for each key to its network queue, wait (shared deadline)."""
    rows = dict(VirtualKey.objects.filter(pk__in=key_ids).values_list("pk", "server__network"))
    from portal.core.queues import network_queue_name

    sent = {}
    for pk in key_ids:
        if pk not in rows:
            continue
        try:
            sent[pk] = tasks.key_apply_pending.apply_async(
                kwargs={"key_id": pk}, queue=network_queue_name(rows[pk])
            )
        except Exception:  # broker down: the row holds the work; the beat job sends it later
            log.warning("could not enqueue key %s; the retry job will pick it up", pk, exc_info=True)
    deadline = time.monotonic() + (admin_wait_seconds() if wait_seconds is None else wait_seconds)
    results: dict[int, dict[str, Any] | None] = {}
    for pk, async_result in sent.items():
        remaining = max(0.05, deadline - time.monotonic())
        try:
            value = async_result.get(timeout=remaining, propagate=False, disable_sync_subtasks=False)
        except CeleryTimeout:
            value = None
        except Exception:  # the result backend is unreachable: report pending, the row knows
            log.warning("no result for key %s", pk, exc_info=True)
            value = None
        results[pk] = value if isinstance(value, dict) else None
    return results


def outcome_words(result: dict[str, Any] | None) -> tuple[int, str]:
    if result is None:
        return messages.WARNING, "pending: LiteLLM has not answered yet; the outcome will show on the key"
    if result.get("ok") is True:
        return messages.SUCCESS, str(result.get("detail") or "done")
    if result.get("ok") is None:
        return messages.WARNING, f"will be retried: {result.get('detail')}"
    return messages.ERROR, f"failed: {result.get('detail')}"
