"""The targets admin's "Check now": the button on a target's page (waits a few seconds and says
how it went, or why there is no answer yet: no worker, or a slow target), and the list's
action, which asks first and runs many targets as background work with a progress page."""

from __future__ import annotations

import time

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from portal.connectivity.models import Target, TargetNetwork
from portal.core.batches import Sent, batch_start
from portal.core.confirm import confirm_first
from portal.core.queues import dispatch_and_wait, send
from portal.core.task_wait import waiting

# How long an admin waits for "Check now" answers from all networks together.
CHECK_NOW_WAIT_SECONDS = 10.0


class CheckNowMixin(admin.ModelAdmin):
    def check_now_view(self, request: HttpRequest, target_id: int) -> HttpResponse:
        target = get_object_or_404(Target, pk=target_id)
        if not self.has_change_permission(request, target):
            raise PermissionDenied  # probing an address is a capability of its own
        if request.method != "POST":
            return HttpResponse("Check now is a POST from the target's page.", status=405)
        self._check_now(request, target)
        return HttpResponseRedirect(reverse("admin:connectivity_target_change", args=[target.pk]))

    @admin.action(permissions=("change",), description="Check now from every network")
    @confirm_first(
        consequences=[
            "Each target is probed at once from every network it is placed on, by that network's worker.",
            "Probing an address opens connections to it from inside your networks; the results "
            "join each target's history and may raise or clear its alerts.",
        ]
    )
    def check_now(self, request: HttpRequest, queryset: QuerySet[Target]) -> HttpResponse | None:
        targets = list(queryset.prefetch_related(Prefetch("placements", queryset=_by_network())))
        if len(targets) == 1:  # one target: wait a few seconds and say how it went
            self._check_now(request, targets[0])
            return None
        return self._check_now_in_background(request, targets)

    def _check_now_in_background(self, request: HttpRequest, targets: list[Target]) -> HttpResponse:
        """Many targets: one task per (target, network), the request returns at once to a page
        that follows them (a bulk "Check now" used to hold the page for up to 10 s)."""
        from portal.connectivity.tasks import target_check

        sent, unsent = [], []
        for target in targets:
            url = reverse("admin:connectivity_target_change", args=[target.pk])
            if not target.placements.all():  # as the button on its page says: nowhere to check from
                unsent.append(f"{target.name}: not placed on any network, so nothing was checked.")
                continue
            for placement in target.placements.all():  # prefetched, by network name
                network = placement.network
                # Broker down: "" (the progress page says not sent); the next sweep checks it anyway.
                task_id = send(target_check, kwargs=_check_kwargs(placement), queue=network.queue)
                sent.append(Sent(f"{target.name} from {network.name}", task_id, network.queue, url))
            self.log_change(request, target, "Check now: sent to the workers (bulk)")
        return batch_start(
            request,
            title=f"Check now: {len(targets)} targets, {len(sent)} checks",
            sent=sent,
            back_url=reverse("admin:connectivity_target_changelist"),
            vendor="the target",
            unsent=unsent,
        )

    def _check_now(self, request: HttpRequest, target: Target) -> None:
        """Send one check per network the target is on to that network's queue (the same task
        and arguments as the background path); wait a little and say how each went."""
        from portal.connectivity.tasks import target_check

        deadline = time.monotonic() + CHECK_NOW_WAIT_SECONDS
        lines = []
        for placement in _placements(target):
            network = placement.network
            done, result, task_id = dispatch_and_wait(
                target_check,
                network=network.name,  # its queue: the name is fixed once the network exists
                kwargs=_check_kwargs(placement),
                wait_seconds=max(0.5, deadline - time.monotonic()),
            )
            if not done:
                # From the task's state and the worker's heartbeat: no worker, or a slow target.
                why = waiting(queue=network.queue, task_id=task_id, vendor="the target").sentence
                lines.append(f"{network.name}: pending, no answer yet: {why}")
            elif isinstance(result, dict):
                word = "ok" if result.get("ok") else "FAILED"
                line = f"{network.name}: {word}, state {result.get('state')}"
                if not result.get("ok"):
                    line += f": {result.get('summary')} {result.get('fix')}".rstrip()
                lines.append(line)
            else:  # the task raised: its exception, which names no secret
                lines.append(f"{network.name}: the check failed to run ({result!r})")
        summary = "; ".join(lines) or "not placed on any network"
        self.log_change(request, target, f"Check now: {summary}"[:2000])
        level = messages.SUCCESS if lines and all(": ok" in line for line in lines) else messages.WARNING
        self.message_user(request, f"{target.name}: {summary}", level)


def _by_network() -> QuerySet[TargetNetwork]:
    """Placements with their networks, by network name: both paths send one check each."""
    return TargetNetwork.objects.select_related("network").order_by("network__name")


def _placements(target: Target) -> list[TargetNetwork]:
    return list(_by_network().filter(target=target))


def _check_kwargs(placement: TargetNetwork) -> dict[str, int]:
    return {"target_id": placement.target_id, "network_id": placement.network_id}
