"""`manage.py bootstrap` steps for people's keys: the beat entries (due steps, rotations and
removals every 30 s; reconcile with safe repairs every hour)."""

from __future__ import annotations

from collections.abc import Mapping

from portal.bootstrap import bootstrap_step
from portal.queues import DEFAULT_QUEUE

DUE_BEAT = "accounts: personal key steps due"
DUE_EVERY_SECONDS = 30
RECONCILE_BEAT = "accounts: reconcile people's keys"
RECONCILE_EVERY_SECONDS = 60 * 60


@bootstrap_step
def personal_keys_beat(environ: Mapping[str, str]) -> list[str]:
    from portal.services import periodic_task_ensure

    out = []
    for name, task, every in (
        (DUE_BEAT, "accounts.personal_keys_due", DUE_EVERY_SECONDS),
        (RECONCILE_BEAT, "accounts.pairings_reconcile", RECONCILE_EVERY_SECONDS),
    ):
        created = periodic_task_ensure(name=name, task=task, every_seconds=every, queue=DEFAULT_QUEUE)
        out.append(f"beat entry {name!r} " + ("created" if created else "already there"))
    return out
