"""Bulk admin actions as background work: the request sends one task per row and returns at
once to a progress page, which follows each task (its state in the result store, its result)
and refreshes itself until every one has finished (portal/static/portal/refresh.js).

A batch is a few ids and words in the staff member's session: nothing secret (task results
hold none), nothing the rows do not also record (each task writes its outcome on its row, so
a batch whose page is closed loses nothing).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from portal.core.task_wait import FINISHED, NO_WORKER, QUEUED, RUNNING, waiting, worker_heard

SESSION_KEY = "portal-batches"
KEPT = 10  # the last batches of a session; older pages say "no such batch"
REFRESH_SECONDS = 2


@dataclass(frozen=True)
class Sent:
    """One task of a batch: what it is about (a row's name and page), where it went."""

    label: str
    task_id: str
    queue: str
    url: str = ""


def batch_start(
    request: HttpRequest,
    *,
    title: str,
    sent: Sequence[Sent],
    back_url: str,
    vendor: str = "the service",
    unsent: Sequence[str] = (),
) -> HttpResponse:
    """Record the batch in the session and redirect to its progress page."""
    token = secrets.token_urlsafe(8)
    batches = dict(request.session.get(SESSION_KEY) or {})
    batches[token] = {
        "title": title,
        "back_url": back_url,
        "vendor": vendor,
        "started": f"{timezone.now():%Y-%m-%d %H:%M:%S}",
        "sent": [[s.label, s.task_id, s.queue, s.url] for s in sent],
        "unsent": list(unsent),
    }
    request.session[SESSION_KEY] = dict(list(batches.items())[-KEPT:])
    return HttpResponseRedirect(reverse("portal_batch_progress", args=[token]))


@dataclass(frozen=True)
class Line:
    label: str
    url: str
    kind: str  # task_wait's kinds: finished, running, queued, no_worker
    words: str
    ok: bool | None


def _line(label: str, task_id: str, queue: str, url: str, vendor: str, heard: Callable[[str], Any]) -> Line:
    from celery.result import AsyncResult

    from portal.celery import app

    if not task_id:  # the broker refused the message: the row's retry job sends it later
        return Line(label, url, FINISHED, "not sent (broker unreachable); the retry job sends it", None)
    result: Any = AsyncResult(task_id, app=app)
    try:
        state = result.state
        value = result.result if state in ("SUCCESS", "FAILURE") else None
    except Exception:  # the result store is down: the rows still say how it went
        return Line(label, url, QUEUED, "no news (the result store cannot be read)", None)
    if state == "SUCCESS":
        return Line(label, url, FINISHED, *result_words(value))
    if state == "FAILURE":
        return Line(label, url, FINISHED, f"the task failed to run ({type(value).__name__})", False)
    said = waiting(queue=queue, task_id=task_id, state=state, vendor=vendor, heard=heard)
    return Line(label, url, said.kind, said.sentence, None)


def result_words(value: Any) -> tuple[str, bool | None]:
    """A task's result dict in words: every result in this portal has `ok` and a detail."""
    if not isinstance(value, dict):
        return "done", True
    ok = value.get("ok")
    detail = str(value.get("detail") or value.get("summary") or "")
    if ok is True:
        return detail or "done", True
    if ok is None:
        return f"will be retried: {detail}", None
    fix = str(value.get("fix") or "")
    return f"failed: {detail} {fix}".rstrip(), False


def batch_progress_view(request: HttpRequest, token: str) -> HttpResponse:
    """The progress page (admin login, the session that started it); ?fragment=1 its table."""
    batch = (request.session.get(SESSION_KEY) or {}).get(token)
    if batch is None:
        raise Http404("No such batch in this session (a batch page is kept for the last ten).")
    # A batch's tasks share a few queues: each queue's worker is looked up once a refresh.
    heard = functools.cache(worker_heard)
    lines = [_line(row[0], row[1], row[2], row[3], batch["vendor"], heard) for row in batch["sent"]]
    counts = {
        "done": sum(line.kind == FINISHED for line in lines),
        "running": sum(line.kind == RUNNING for line in lines),
        "queued": sum(line.kind == QUEUED for line in lines),
        "no_worker": sum(line.kind == NO_WORKER for line in lines),
        "failed": sum(line.ok is False for line in lines),
        "total": len(lines),
    }
    context = {
        "batch": batch,
        "lines": lines,
        "counts": counts,
        "finished": counts["done"] == counts["total"],
        "refresh_url": reverse("portal_batch_progress", args=[token]) + "?fragment=1",
        "refresh_seconds": REFRESH_SECONDS,
    }
    if request.GET.get("fragment"):
        return TemplateResponse(request, "admin/portal/batch_lines.html", context)
    from django.contrib import admin

    return TemplateResponse(
        request,
        "admin/portal/batch.html",
        {**admin.site.each_context(request), "title": batch["title"], **context},
    )
