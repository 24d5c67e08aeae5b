"""The beat's pickup, ticked by the test after it moved the clock past every backoff and lease.

Moving `next_attempt_at` to now is the only liberty taken (time, not our code): the real
services pick the due rows up and enqueue them on their network queue for the real workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from django.utils import timezone

from integrations.librechat import accounts as librechat
from integrations.librechat.models import AccountStatus, LibreChatAccount
from integrations.litellm import key_work
from integrations.litellm.models import VirtualKey
from integrations.litellm.tasks import key_apply_pending


def queue_depth(broker_url: str, queue: str) -> int:
    """Messages waiting in a Redis-backed Celery queue (kombu keeps them in a list of that name)."""
    return int(redis.Redis.from_url(broker_url).llen(queue))


def librechat_tick(*, broker_url: str, queue: str) -> int:
    """Once the queue is drained: time passes (backoffs, gates and leases run out), the beat runs."""
    if queue_depth(broker_url, queue):
        return 0
    LibreChatAccount.objects.filter(status=AccountStatus.WAITING).update(next_attempt_at=timezone.now())
    return librechat.accounts_provision_due()


def litellm_tick(*, broker_url: str, queue: str) -> int:
    if queue_depth(broker_url, queue):
        return 0
    VirtualKey.objects.exclude(pending_action="").update(next_attempt_at=timezone.now())
    due = key_work.keys_due()
    for key_id, queue_name in due:
        key_apply_pending.apply_async(kwargs={"key_id": key_id}, queue=queue_name)
    return len(due)


def tick_until(
    done: Callable[[], bool], tick: Callable[[], int], *, timeout: float, log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done in {timeout} s; the worker's log:\n{log()[-4000:]}")
        tick()
        time.sleep(0.5)
