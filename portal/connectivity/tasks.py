"""Connectivity tasks. Each takes ids, loads the rows and calls one service.

`network_sweep` and `target_check` are routed to the network's own queue (the beat entry and
"Check now" name it), so they run in the worker attached to that Docker network.
"""

from __future__ import annotations

from typing import Any

from celery import current_task, shared_task

from portal.connectivity import alerts, budget_alerts, checks, retention, workers
from portal.connectivity.models import AlertChannel, Network, Target


def _hostname() -> str:
    return (current_task.request.hostname or "") if current_task else ""


@shared_task(name="connectivity.network_sweep", ignore_result=True)
def network_sweep(network_id: int) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None:  # deleted since the beat entry fired
        return
    checks.network_sweep(network=network, hostname=_hostname())


@shared_task(name="connectivity.network_heartbeat", ignore_result=True)
def network_heartbeat(network_id: int) -> None:
    """Routed to the network's queue: the worker inside the network reports it lives, and what it sees."""
    network = Network.objects.filter(pk=network_id).first()
    if network is not None:
        workers.worker_report(network=network, hostname=_hostname())


@shared_task(name="connectivity.target_check")
def target_check(target_id: int, network_id: int) -> dict[str, Any]:
    target = Target.objects.get(pk=target_id)
    network = Network.objects.get(pk=network_id)
    return checks.target_check_now(target=target, network=network).as_task_result()


@shared_task(name="connectivity.workers_check", ignore_result=True)
def workers_check() -> None:
    workers.network_workers_check()
    budget_alerts.budget_alerts_raise_due()
    alerts.alerts_deliver()


@shared_task(name="connectivity.alerts_deliver", ignore_result=True)
def alerts_deliver() -> None:
    alerts.alerts_deliver()


@shared_task(name="connectivity.budget_alerts_raise", ignore_result=True)
def budget_alerts_raise(alert_ids: list[int]) -> None:
    """Ids only: each BudgetAlert row becomes one staff alert (budget_alerts.py)."""
    budget_alerts.budget_alerts_raise(alert_ids=alert_ids)


@shared_task(name="connectivity.results_prune", ignore_result=True)
def results_prune(days: int | None = None) -> None:
    retention.check_results_prune(days=days)


@shared_task(name="connectivity.alert_test_send")
def alert_test_send(channel_id: int) -> dict[str, Any]:
    """ "Send a test alert", by the worker that delivers real alerts (the same network position
    and timeouts as a real delivery; the web process never posts to a staff-entered URL).
    The result holds the failure sentence (no URL, no secret) or None."""
    channel = AlertChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        return {"failure": "The channel was deleted before its test alert went out."}
    return {"failure": alerts.alert_test_send(channel)}
