"""`manage.py bootstrap`: create from the environment what the seeds' deployments configure
that way. Each step creates a row only when none with that address exists and never
overwrites what an admin edited, so it is safe on every start (compose's one-shot
migrate service and `make run` both call it).

Apps contribute steps in a module named `bootstrap.py` with functions decorated by
`@bootstrap_step`; they run in app order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from portal.queues import DEFAULT_QUEUE

BootstrapStep = Callable[[Mapping[str, str]], list[str]]
_steps: list[BootstrapStep] = []


def bootstrap_step(func: BootstrapStep) -> BootstrapStep:
    if func not in _steps:
        _steps.append(func)
    return func


def registered_steps() -> list[BootstrapStep]:
    return list(_steps)


@bootstrap_step
def default_queue_heartbeat(environ: Mapping[str, str]) -> list[str]:
    from portal import services

    created = services.periodic_task_ensure(
        name=f"heartbeat: {DEFAULT_QUEUE}",
        task="portal.worker_heartbeat",
        every_seconds=60,
        queue=DEFAULT_QUEUE,
        kwargs={"queue": DEFAULT_QUEUE},
    )
    return [f"beat entry 'heartbeat: {DEFAULT_QUEUE}' " + ("created" if created else "already there")]


@bootstrap_step
def mail_beat(environ: Mapping[str, str]) -> list[str]:
    from portal import services

    name = "portal: send due mail"
    created = services.periodic_task_ensure(
        name=name, task="portal.mails_send_due", every_seconds=60, queue=DEFAULT_QUEUE
    )
    return [f"beat entry '{name}' " + ("created" if created else "already there")]
