"""Celery queue names. `default` plus one queue per Docker network.

A network's queue is consumed only by a worker attached to that network, so whatever runs
there (probes, vendor calls to a server on that network) goes out from the right place.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps

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


def dispatch_and_wait(
    task: Any, *, network: str | None, kwargs: dict[str, Any], wait_seconds: float
) -> tuple[bool, Any, str]:
    """Send `task` to the queue of `network` (or default) and wait briefly for its result.

    Where a person is waiting (an admin action), the web process waits a few seconds; past
    that it returns (False, None, task_id) and the caller shows the action as pending. The
    task records its outcome on the row either way, so nothing depends on this wait.
    Task results must never hold secrets (they sit in the result backend).
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    queue = network_queue_name(network) if network else DEFAULT_QUEUE
    try:
        result = task.apply_async(kwargs=kwargs, queue=queue)
    except Exception as exc:
        # Broker or result store down (kombu, redis and Celery each raise their own kind): the
        # caller shows "pending", never a 500; the rows say what is due and the beat retries.
        log.warning("could not send %s to %s (%s)", getattr(task, "name", task), queue, type(exc).__name__)
        return False, None, ""
    try:
        value = result.get(timeout=wait_seconds, propagate=False, disable_sync_subtasks=False)
    except CeleryTimeout:
        return False, None, result.id
    except Exception as exc:  # the result store went away while we waited
        log.warning("no result for %s from %s (%s)", result.id, queue, type(exc).__name__)
        return False, None, result.id
    return True, value, result.id


def wake(task: Any, *, kwargs: dict[str, Any], queue: str) -> None:
    """Send a wake-up message for work a row already records. A broker that is down must not
    fail the request that queued the work: the beat picks the row up when it is due."""
    try:
        task.apply_async(kwargs=kwargs, queue=queue)
    except Exception as exc:
        log.warning(
            "could not wake a worker on %s (%s); the beat job will pick the work up",
            queue,
            type(exc).__name__,
        )
