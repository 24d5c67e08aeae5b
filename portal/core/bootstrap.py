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
    """The steps in INSTALLED_APPS order (the kit's first), whatever order imported them: a
    feature's step reads the rows an integration's step made."""
    from django.apps import apps

    order = {config.name: position for position, config in enumerate(apps.get_app_configs())}

    def position(step: BootstrapStep) -> int:
        module = step.__module__
        if module.startswith("portal.core."):
            return -1
        owners = [name for name in order if module == name or module.startswith(name + ".")]
        return order[max(owners, key=len)] if owners else len(order)

    return sorted(_steps, key=position)


@bootstrap_step
def beat_schedules(environ: Mapping[str, str]) -> list[str]:
    """The entries of the one table (portal.core.schedules.BEAT_SCHEDULES)."""
    from portal.core.schedules import schedules_ensure

    return schedules_ensure()
