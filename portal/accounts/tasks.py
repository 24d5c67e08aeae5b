"""Celery tasks for people's keys: ids in, one service call, no secrets in results."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal.accounts import lifecycle, personal_keys, reconcile


@shared_task(name="accounts.personal_key_advance")
def personal_key_advance_task(record_id: int, step: str | None = None) -> dict[str, Any]:
    """One step of a person's key, on the network queue of the server the step talks to."""
    return personal_keys.personal_key_advance(record_id=record_id, step=step).as_result()


@shared_task(name="accounts.personal_keys_due", ignore_result=True)
def personal_keys_due_task() -> int:
    """Beat, on the default queue: hands due steps to their network's queue."""
    return personal_keys.personal_keys_due() + lifecycle.removals_due()


@shared_task(name="accounts.person_removal")
def person_removal_task(removal_id: int) -> str:
    return lifecycle.person_removal_advance(removal_id=removal_id)


@shared_task(name="accounts.pairing_reconcile")
def pairing_reconcile_task(pairing_id: int, repair: bool = False) -> dict[str, Any]:
    """Runs on the LiteLLM server's network queue (it reads /key/list page by page)."""
    return reconcile.pairing_reconcile(pairing_id=pairing_id, repair=repair).as_result()


@shared_task(name="accounts.pairings_reconcile", ignore_result=True)
def pairings_reconcile_task() -> int:
    """Beat: reconcile every pairing and repair what is safe to repair."""
    return reconcile.pairings_reconcile_dispatch()


@shared_task(name="accounts.drift_fix")
def drift_fix_task(finding_id: int) -> str:
    return reconcile.drift_fix(finding_id=finding_id)
