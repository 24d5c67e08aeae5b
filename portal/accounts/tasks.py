"""Celery tasks for people: ids in, one service call, no secrets in arguments or results."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal.accounts import invitation_import


@shared_task(name="accounts.invitation_import_run")
def invitation_import_run_task(import_id: int) -> dict[str, Any]:
    """Make the invitations of a confirmed CSV import (each mailed through the outbox)."""
    return invitation_import.import_run(import_id=import_id).as_result()


@shared_task(name="accounts.invitation_imports_due", ignore_result=True)
def invitation_imports_due_task() -> int:
    """Beat: confirmed imports whose worker never finished are handed out again."""
    return invitation_import.imports_due()
