"""`manage.py litellm_sync [server name ...]`: sync keys and models now.

By default the sync runs as a task on each server's network queue (where the proxy's
name resolves) and this command waits for it; `--here` runs it in this process, for a
shell that is itself on the proxy's network. When no worker takes the task within
`--pickup` seconds and none consumes the queue, it says so and names `--here` instead of
waiting in silence.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError

from integrations.litellm import sync, tasks
from integrations.litellm.models import LiteLLMServer
from portal.core.queues import NoWorker, dispatch_and_wait


class Command(BaseCommand):
    help = "Sync virtual keys and models from LiteLLM into the portal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("servers", nargs="*", help="server names (default: all)")
        parser.add_argument("--here", action="store_true", help="call LiteLLM from this process")
        parser.add_argument("--wait", type=float, default=600.0, help="seconds to wait for each task")
        parser.add_argument(
            "--pickup", type=float, default=3.0, help="seconds for a worker to take the task before asking"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        servers = LiteLLMServer.objects.all()
        if options["servers"]:
            servers = servers.filter(name__in=options["servers"])
            unknown = set(options["servers"]) - set(servers.values_list("name", flat=True))
            if unknown:
                raise CommandError(f"no LiteLLM server named {', '.join(sorted(unknown))}")
        failed = 0
        for server in servers:
            if options["here"]:
                try:
                    report = sync.keys_sync(server=server)
                except Exception as exc:
                    failed += 1
                    self.stderr.write(f"{server.name}: sync failed: {exc}")
                    continue
                self.stdout.write(f"{server.name}: {report}")
                continue
            try:
                done, result, task_id = dispatch_and_wait(
                    tasks.server_sync,
                    network=server.network,
                    kwargs={"server_id": server.pk},
                    wait_seconds=options["wait"],
                    pickup_seconds=options["pickup"],
                )
            except NoWorker as exc:
                failed += 1
                self.stderr.write(
                    f"{server.name}: {exc}. Start a worker that consumes {exc.queue} (`make run` runs one "
                    f"for every queue), or run `manage.py litellm_sync --here` to sync from this process. "
                    f"The task {exc.task_id} stays queued for the next worker."
                )
                continue
            except OperationalError as exc:  # the broker does not answer
                raise CommandError(
                    f"cannot send the sync to the Celery broker ({exc}); "
                    "run `manage.py litellm_sync --here` to sync from this process"
                ) from None
            if not task_id:  # dispatch_and_wait could not hand it to the broker (logged there)
                raise CommandError(
                    "cannot send the sync to the Celery broker (it does not answer); "
                    "run `manage.py litellm_sync --here` to sync from this process"
                )
            if not done:
                failed += 1
                self.stderr.write(
                    f"{server.name}: still running after {options['wait']:g} s (task {task_id}); its outcome "
                    "will show on the server row, or run `manage.py litellm_sync --here`"
                )
            elif not isinstance(result, dict) or not result.get("ok"):
                failed += 1
                detail = result.get("detail") if isinstance(result, dict) else result
                self.stderr.write(f"{server.name}: sync failed: {detail}")
            else:
                self.stdout.write(f"{server.name}: {result['detail']}")
        if failed:
            raise CommandError(f"{failed} server(s) not synced")
