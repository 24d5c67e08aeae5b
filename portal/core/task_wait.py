"""What a person waits on, said from what is known: a task's state in the result store (it
tracks "started", CELERY_TASK_TRACK_STARTED) and the last heartbeat of its queue's worker.

- still PENDING and no worker heard lately on the queue: the queue waits for a worker;
- still PENDING but a worker was heard: the task waits in the queue behind other work;
- STARTED: a worker took it and waits on the vendor's (or the probed service's) answer, so a
  slow proxy is not blamed on the worker.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.utils import timezone

from portal.models import WorkerHeartbeat

log = logging.getLogger(__name__)

# A queue's heartbeat runs every minute (portal/core/schedules.py); three missed beats is silence.
# A network's own setting (Network.heartbeat_stale_after_seconds) wins where there is one.
DEFAULT_STALE_AFTER = dt.timedelta(seconds=180)

QUEUED, NO_WORKER, RUNNING, FINISHED, UNKNOWN = "queued", "no_worker", "running", "finished", "unknown"


@dataclass(frozen=True)
class Waiting:
    """Why the answer has not come yet: `kind` (one of the constants above) and the sentence."""

    kind: str
    sentence: str


def worker_heard(queue: str, *, now: dt.datetime | None = None) -> tuple[bool, dt.datetime | None]:
    """(heard lately, last heartbeat) of the worker consuming `queue`."""
    seen = WorkerHeartbeat.objects.filter(queue=queue).values_list("seen_at", flat=True).first()
    if seen is None:
        return False, None
    return (now or timezone.now()) - seen <= _stale_after(queue), seen


def _stale_after(queue: str) -> dt.timedelta:
    try:
        Network = apps.get_model("connectivity", "Network")
    except LookupError:
        return DEFAULT_STALE_AFTER
    seconds = (
        Network.objects.filter(queue=queue).values_list("heartbeat_stale_after_seconds", flat=True).first()
    )
    return dt.timedelta(seconds=seconds) if seconds else DEFAULT_STALE_AFTER


def task_state(task_id: str) -> str:
    """The task's state in the result store, or "" when the store cannot be read."""
    if not task_id:
        return ""
    from celery.result import AsyncResult

    from portal.celery import app

    try:
        return str(AsyncResult(task_id, app=app).state)
    except Exception as exc:  # the result store is down: say nothing rather than guess
        log.warning("no state for task %s (%s)", task_id, type(exc).__name__)
        return ""


def waiting(
    *,
    queue: str,
    task_id: str = "",
    state: str | None = None,
    vendor: str = "the service",
    heard: Callable[[str], tuple[bool, dt.datetime | None]] = worker_heard,
) -> Waiting:
    """Why a task sent to `queue` has not answered yet (`state` if the caller read it already;
    `heard` in place of worker_heard for a caller asking about many tasks on few queues)."""
    state = task_state(task_id) if state is None else state
    if state in ("SUCCESS", "FAILURE", "REVOKED"):
        return Waiting(FINISHED, "finished")
    if state in ("STARTED", "RETRY"):
        return Waiting(RUNNING, f"a worker on {queue} took it and is waiting for {vendor} to answer")
    alive, seen = heard(queue)
    if state == "PENDING" or not task_id:
        return Waiting(*_queued_words(queue, alive, seen))
    return Waiting(UNKNOWN, f"no news yet from {queue}")


def _queued_words(queue: str, heard: bool, seen: dt.datetime | None) -> tuple[str, str]:
    if heard and seen is not None:
        return QUEUED, (
            f"waiting in the queue {queue} behind other work (its worker was heard at {seen:%H:%M:%S} UTC)"
        )
    since = f"since {seen:%Y-%m-%d %H:%M} UTC" if seen else "ever"
    return NO_WORKER, (
        f"waiting in the queue {queue}: no worker heard on it {since}; start one (celery worker -Q {queue})"
    )
