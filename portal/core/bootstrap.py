"""`manage.py bootstrap`: create from the environment what the seeds' deployments configure
that way. Each step creates a row only when none with that address exists and never
overwrites what an admin edited, so it is safe on every start (compose's one-shot
migrate service and `make run` both call it).

Apps contribute steps in a module named `bootstrap.py` with functions decorated by
`@bootstrap_step`; they run in app order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

BootstrapStep = Callable[[Mapping[str, str]], list[str]]
_steps: list[BootstrapStep] = []


def bootstrap_step(func: BootstrapStep) -> BootstrapStep:
    if func not in _steps:
        _steps.append(func)
    return func


def registered_steps() -> list[BootstrapStep]:
    return list(_steps)


@bootstrap_step
def beat_schedules(environ: Mapping[str, str]) -> list[str]:
    """The entries of the one table (portal.core.schedules.BEAT_SCHEDULES)."""
    from portal.core.schedules import schedules_ensure

    return schedules_ensure()
