"""Every management command of the portal that hands work to a worker offers `--here` and
waits through portal.core.queues.dispatch_and_wait with a pickup time, so that with no worker it
says so within seconds instead of waiting in silence (tests/litellm/test_sync_command.py
proves that behaviour for litellm_sync against a real broker)."""

from __future__ import annotations

import inspect
from importlib import import_module

from django.core.management import get_commands

HANDS_WORK_TO_A_WORKER = ("dispatch_and_wait", "apply_async", ".delay(", "send_task")


def test_every_command_that_hands_work_to_a_worker_offers_here() -> None:
    dispatching = []
    for name, app_name in sorted(get_commands().items()):
        if not app_name.startswith(("portal", "integrations")):
            continue  # Django's and third parties' commands
        module = import_module(f"{app_name}.management.commands.{name}")
        source = inspect.getsource(module)
        if not any(marker in source for marker in HANDS_WORK_TO_A_WORKER):
            continue
        dispatching.append(name)
        parser = module.Command().create_parser("manage.py", name)
        options = {option for action in parser._actions for option in action.option_strings}
        assert "--here" in options, f"{name} hands work to a worker but has no --here"
        # One way to wait: the helper that knows when nobody is there.
        assert "dispatch_and_wait" in source and "pickup_seconds" in source, name
        assert "apply_async" not in source and ".delay(" not in source, name
    assert "litellm_sync" in dispatching  # the scan sees the one we know of
