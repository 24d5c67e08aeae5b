"""`manage.py connectivity_check <target> [--network NAME ...] [--here]`: check a target now.

By default the check runs as a task on each network's queue, in the worker attached to that
Docker network, and this command waits for it, as the admin's "Check now" does. `--here`
runs it in this process instead, for a shell that is itself on the network: the diagnosis
then reasons from this process's own facts (its addresses, gateway, resolver, hosts file),
not from what the network's worker last reported. Either way the result is recorded.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError

from portal.connectivity import checks, tasks
from portal.connectivity.models import Target, TargetNetwork
from portal.core.queues import NoWorker, dispatch_and_wait


class Command(BaseCommand):
    help = "Check a connectivity target now, from each network it is placed on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="the target's name")
        parser.add_argument("--network", action="append", default=[], help="only from this network")
        parser.add_argument("--here", action="store_true", help="probe from this process")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for each check")
        parser.add_argument(
            "--pickup", type=float, default=3.0, help="seconds for a worker to take the check before asking"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target.objects.filter(name=options["target"]).first()
        if target is None:
            raise CommandError(f"no connectivity target named {options['target']!r}")
        placements = TargetNetwork.objects.filter(target=target).select_related("network")
        if options["network"]:
            placements = placements.filter(network__name__in=options["network"])
        placements = placements.order_by("network__name")
        if not placements:
            raise CommandError(
                f"{target.name} is not placed on {', '.join(options['network']) or 'any network'}"
            )
        failed = sum(not self.check_placement(target, placement, options) for placement in placements)
        if failed:
            raise CommandError(f"{failed} check(s) of {target.name} failed or did not finish")

    def check_placement(self, target: Target, placement: TargetNetwork, options: dict[str, Any]) -> bool:
        network = placement.network
        if options["here"]:
            report = checks.target_check_now(target=target, network=network, here=True).as_task_result()
            return self.show(network.name, report)
        try:
            done, result, task_id = dispatch_and_wait(
                tasks.target_check,
                network=network.name,
                kwargs={"target_id": target.pk, "network_id": network.pk},
                wait_seconds=options["wait"],
                pickup_seconds=options["pickup"],
            )
        except NoWorker as exc:
            self.stderr.write(
                f"{network.name}: {exc}. Start the worker attached to {network.name} (celery worker -Q "
                f"{exc.queue}), or run `manage.py connectivity_check --here` from a shell on that network."
            )
            return False
        except OperationalError as exc:  # the broker does not answer
            raise CommandError(
                f"cannot send the check to the Celery broker ({exc}); run `manage.py connectivity_check --here`"
            ) from None
        if not task_id:
            raise CommandError(
                "cannot send the check to the Celery broker (it does not answer); "
                "run `manage.py connectivity_check --here`"
            )
        if not done or not isinstance(result, dict):
            self.stderr.write(f"{network.name}: no answer after {options['wait']:g} s (task {task_id})")
            return False
        return self.show(network.name, result)

    def show(self, network: str, report: dict[str, Any]) -> bool:
        if report.get("ok"):
            self.stdout.write(f"{network}: ok, state {report.get('state')}: {report.get('summary')}")
            return True
        self.stderr.write(
            f"{network}: FAILED, state {report.get('state')}: {report.get('summary')} {report.get('fix')}"
        )
        return False
