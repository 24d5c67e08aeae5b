"""Celery queue names. `default` plus one queue per Docker network.

A network's queue is consumed only by a worker attached to that network, so whatever runs
there (probes, vendor calls to a server on that network) goes out from the right place.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.apps import apps
from django.db import transaction

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"


def network_queue_name(network_name: str) -> str:
    return f"net.{network_name}"


def all_queue_names() -> list[str]:
    names = [DEFAULT_QUEUE]
    try:
        Network = apps.get_model("connectivity", "Network")
    except LookupError:  # connectivity not installed
        return names
    names += [q for q in Network.objects.order_by("name").values_list("queue", flat=True) if q]
    return list(dict.fromkeys(names))


class NoWorker(Exception):
    """No worker took a task from its queue within the pickup time (and, where the broker can
    broadcast, no worker consumes that queue). The message stays queued: a worker that starts
    later runs it, and the task records its outcome on its row as always."""

    def __init__(self, *, queue: str, task_id: str, seconds: float, asked: bool) -> None:
        self.queue, self.task_id, self.seconds, self.asked = queue, task_id, seconds, asked
        why = "no worker answered as consuming it" if asked else "this broker cannot ask workers"
        super().__init__(f"no worker took the task from queue {queue} within {seconds:g} s ({why})")


def queue_consumers(queue: str, *, timeout: float = 1.0) -> int | None:
    """How many running workers consume `queue`, by asking them all (a control broadcast).

    None when the broker cannot broadcast (a transport without fanout): then only a task's
    own progress tells whether a worker is there.
    """
    from portal.celery import app

    with app.connection_for_read() as connection:
        if not getattr(connection.default_channel, "supports_fanout", True):
            return None
        replies = app.control.inspect(timeout=timeout, connection=connection).active_queues() or {}
    return sum(any(q.get("name") == queue for q in queues or ()) for queues in replies.values())


def dispatch_and_wait(
    task: Any,
    *,
    network: str | None,
    kwargs: dict[str, Any],
    wait_seconds: float,
    pickup_seconds: float | None = None,
) -> tuple[bool, Any, str]:
    """Send `task` (a task or its registered name, as for `wake`) to the queue of `network` (or
    default) and wait briefly for its result.

    Where a person is waiting (an admin action), the web process waits a few seconds; past
    that it returns (False, None, task_id) and the caller shows the action as pending. The
    task records its outcome on the row either way, so nothing depends on this wait. A broker
    that does not take the message gives (False, None, ""): no task id, nothing was sent.
    Task results must never hold secrets (they sit in the result backend).

    With `pickup_seconds` (a command that would otherwise wait minutes), a task still not
    started by then raises NoWorker unless a worker answers as consuming the queue (then it
    is only queued behind other work, and the wait goes on): nobody waits in silence for a
    worker that is not there. "Started" is known because tasks track it (CELERY_TASK_TRACK_STARTED).
    """
    from celery.exceptions import TimeoutError as CeleryTimeout
    from celery.states import PENDING

    queue = network_queue_name(network) if network else DEFAULT_QUEUE
    started = time.monotonic()
    try:
        result = _send(task, kwargs=kwargs, queue=queue)
    except Exception as exc:
        # Broker or result store down (kombu, redis and Celery each raise their own kind): the
        # caller shows "pending", never a 500; the rows say what is due and the beat retries.
        log.warning("could not send %s to %s (%s)", getattr(task, "name", task), queue, type(exc).__name__)
        return False, None, ""
    if pickup_seconds is not None:
        while result.state == PENDING and time.monotonic() - started < pickup_seconds:
            time.sleep(0.1)
        if result.state == PENDING:
            consumers = queue_consumers(queue)
            if not consumers and result.state == PENDING:  # still nobody: not even just now
                raise NoWorker(
                    queue=queue, task_id=result.id, seconds=pickup_seconds, asked=consumers is not None
                )
    try:
        value = result.get(
            timeout=max(wait_seconds - (time.monotonic() - started), 0.1),
            propagate=False,
            disable_sync_subtasks=False,
        )
    except CeleryTimeout:
        return False, None, result.id
    except Exception as exc:  # the result store went away while we waited
        log.warning("no result for %s from %s (%s)", result.id, queue, type(exc).__name__)
        return False, None, result.id
    return True, value, result.id


def _send(task: Any, *, kwargs: dict[str, Any], queue: str) -> Any:
    """Send `task`, a task or its registered name, to `queue`; its AsyncResult."""
    if isinstance(task, str):
        from portal.celery import app

        return app.send_task(task, kwargs=kwargs, queue=queue)
    return task.apply_async(kwargs=kwargs, queue=queue)


def wake_after_commit(task: Any, *, kwargs: dict[str, Any], queue: str) -> None:
    """Wake a worker once the row that records the work is committed. An on_commit callback
    that raises fails the request after its row is saved (a 500 for work that is safely due),
    so the wake-up goes through `wake`, which never raises."""
    transaction.on_commit(lambda: wake(task, kwargs=kwargs, queue=queue))


def wake(task: Any, *, kwargs: dict[str, Any], queue: str) -> None:
    """Send a wake-up message for work a row already records. A broker that is down must not
    fail the request that queued the work: the beat picks the row up when it is due.

    `task` is a task or its registered name: a service names the task that carries its work
    on ("litellm.key_apply_pending") instead of importing the tasks module that imports it."""
    send(task, kwargs=kwargs, queue=queue)


def send(task: Any, *, kwargs: dict[str, Any], queue: str) -> str:
    """Send `task` to `queue` and return its task id, or "" when the broker did not take it
    (logged, never raised): callers send only work that a row or the beat also carries."""
    try:
        return str(_send(task, kwargs=kwargs, queue=queue).id)
    except Exception as exc:
        log.warning(
            "could not send %s to %s (%s); the beat job will pick the work up",
            getattr(task, "name", task),
            queue,
            type(exc).__name__,
        )
        return ""
