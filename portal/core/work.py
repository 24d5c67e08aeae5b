"""Work in flight: the one way the portal retries, claims and hands out due work.

Every piece of work a vendor (or a mail server) must answer is a row that records what is
due (`next_attempt_at`), how often it was tried (`attempts`) and why it last failed. A task
does the work; the beat hands out what is due; a lost message or a killed worker only delays
the work until a lease runs out. This module holds the parts every such row shares:

- `RetryPolicy`: when to try again (doubling backoff with jitter, a cap, a last attempt).
- `claim`: take a row for one worker for a lease (one UPDATE that only one worker wins).
- `take_locked`: the other claim, for work done inside one transaction (the row lock is the
  claim, SKIP LOCKED lets a second worker pass by).
- `hand_out_due`: the beat's side, rows whose next attempt is due woken on their queue.
- `WorkResult`: what a task returns (ids, an outcome word, a detail; never a secret).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

M = TypeVar("M", bound=models.Model)

# A message handed to a queue is not handed again by the beat for this long (a lost message);
# a worker holds a claimed row this long (longer than any task's time limit).
ENQUEUE_LEASE = dt.timedelta(minutes=5)
CLAIM_LEASE = dt.timedelta(minutes=5)


def backoff_at(attempts: int, *, base_seconds: float, cap_seconds: float) -> dt.datetime:
    """Doubling from `base_seconds` after the first failed attempt, capped, with up to 10 %
    jitter so many rows that failed together do not all retry in the same second."""
    seconds = min(base_seconds * 2 ** max(0, attempts - 1), cap_seconds)
    seconds *= 1 + random.random() * 0.1
    return timezone.now() + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of work is retried: `next_attempt_at(n)` after the n-th failed attempt,
    and given up (staff told) once `max_attempts` attempts failed."""

    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def next_attempt_at(self, attempts: int) -> dt.datetime:
        return backoff_at(attempts, base_seconds=self.base_seconds, cap_seconds=self.cap_seconds)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def claim(queryset: models.QuerySet[M], *, field: str, lease: dt.timedelta = CLAIM_LEASE) -> bool:
    """Take the row(s) of `queryset` for this worker until `field` (a lease timestamp) passes.
    True only for the one worker whose UPDATE found no running lease."""
    now = timezone.now()
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": now})
    return bool(queryset.filter(free).update(**{field: now + lease}))


def take_locked(queryset: models.QuerySet[M]) -> M | None:
    """Inside a transaction: the row, locked for it, or None when another worker holds it."""
    return queryset.select_for_update(skip_locked=True, of=("self",)).first()


def hand_out_due(
    queryset: models.QuerySet[M],
    *,
    wake: Callable[[M], Any],
    limit: int,
    lease: dt.timedelta = ENQUEUE_LEASE,
    due_field: str = "next_attempt_at",
) -> int:
    """The beat's job for one kind of work: every row of `queryset` whose `due_field` has
    passed gets it moved one lease on (so a lost message is handed out again later, never
    twice at once) and `wake(row)` after commit. Rows another beat is handing out are skipped."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            queryset.select_for_update(skip_locked=True, of=("self",))
            .filter(**{f"{due_field}__lte": now})
            .order_by(due_field)[:limit]
        )
        if due:
            queryset.model._default_manager.filter(pk__in=[row.pk for row in due]).update(
                **{due_field: now + lease}
            )
        for row in due:
            wake(row)
    return len(due)


class Outcome(StrEnum):
    DONE = "done"  # the work (or this step of it) is finished
    RETRY = "retry"  # not yet, for a reason that passes; the row says when it is due again
    FAILED = "failed"  # no retry fixes it: staff are told, the row says what to do
    BUSY = "busy"  # another worker holds it
    MOVED = "moved"  # a stale message: the current step was handed to its own queue
    IDLE = "idle"  # nothing is due on the row
    GONE = "gone"  # the row no longer exists


@dataclass(frozen=True)
class WorkResult:
    """What a task returns. Task results sit in the result store: ids and words only."""

    work: str  # which kind of work ("personal_key", "key_action", "mail", ...)
    id: int
    outcome: Outcome
    detail: str = ""
    step: str = ""
    next_step: str = ""

    def as_result(self) -> dict[str, Any]:
        return {
            "work": self.work,
            "id": self.id,
            "outcome": str(self.outcome),
            "detail": self.detail,
            "step": self.step,
            "next_step": self.next_step,
        }
