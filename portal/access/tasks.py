"""Celery tasks for people's AI access: ids in, one service call, no secrets in results.

The tasks were named "accounts.*" before this app existed. The old names stay registered for
one release (`_OLD_NAMES`), so messages already queued by the previous version still run; the
beat rows were renamed by migration 0002 of this app.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from portal.access import budget_mail, key_steps, personal_keys, provisioning, reconcile, removal


@shared_task(name="access.personal_key_advance")
def personal_key_advance_task(record_id: int, step: str | None = None) -> dict[str, Any]:
    """One step of a person's key, on the network queue of the server the step talks to."""
    return key_steps.personal_key_advance(record_id=record_id, step=step).as_result()


@shared_task(name="access.person_provision", bind=True, max_retries=10)
def person_provision_task(self: Task[Any, Any], account_id: int) -> dict[str, Any]:
    """On the LibreChat server's network queue: the account, then the person's key. A row
    another worker holds (LibreChat's own wake-up) is tried again shortly, not left to the beat."""
    result = provisioning.person_provision(account_id=account_id)
    if result.detail == "busy":
        raise self.retry(countdown=2)
    return result.as_result()


@shared_task(name="access.personal_keys_due", ignore_result=True)
def personal_keys_due_task() -> int:
    """Beat, on the default queue: hands due steps to their network's queue; mails the budget
    alerts whose wake-up was lost (no vendor call: the outbox sends them)."""
    return personal_keys.personal_keys_due() + removal.removals_due() + budget_mail.budget_alerts_mail_due()


@shared_task(name="access.budget_alerts_mail", ignore_result=True)
def budget_alerts_mail_task(alert_ids: list[int]) -> int:
    """Ids only: the holder of each BudgetAlert row's key is mailed once (budget_mail.py)."""
    return budget_mail.budget_alerts_mail(alert_ids=alert_ids)


@shared_task(name="access.person_removal")
def person_removal_task(removal_id: int) -> dict[str, Any]:
    return removal.person_removal_advance(removal_id=removal_id).as_result()


@shared_task(name="access.pairing_reconcile")
def pairing_reconcile_task(pairing_id: int, repair: bool = False) -> dict[str, Any]:
    """Runs on the LiteLLM server's network queue (it reads /key/list page by page)."""
    return reconcile.pairing_reconcile(pairing_id=pairing_id, repair=repair).as_result()


@shared_task(name="access.pairings_reconcile", ignore_result=True)
def pairings_reconcile_task() -> int:
    """Beat: reconcile every pairing and repair what is safe to repair."""
    return reconcile.pairings_reconcile_dispatch()


@shared_task(name="access.drift_fix")
def drift_fix_task(finding_id: int) -> str:
    return reconcile.drift_fix(finding_id=finding_id)


# The names of the previous release, each running the same function (drop them next release).
_OLD_NAMES: dict[str, Task[Any, Any]] = {
    "accounts.personal_key_advance": personal_key_advance_task,
    "accounts.personal_keys_due": personal_keys_due_task,
    "accounts.person_removal": person_removal_task,
    "accounts.pairing_reconcile": pairing_reconcile_task,
    "accounts.pairings_reconcile": pairings_reconcile_task,
    "accounts.drift_fix": drift_fix_task,
}
for _old_name, _task in _OLD_NAMES.items():
    shared_task(name=_old_name, ignore_result=_task.ignore_result)(_task.run)
