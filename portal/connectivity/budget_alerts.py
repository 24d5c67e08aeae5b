"""Staff hear of budget alerts through the alert channels.

integrations.litellm records each crossing once (integrations/litellm/budget_alerts.py) and
cannot import this app; it sends `budget_alerts_recorded` after commit. The receiver wakes
task `connectivity.budget_alerts_raise`, which turns each row into one Alert (kind "budget")
in the same transaction that marks the row's staff side done, so a second worker or the beat
(`connectivity.workers_check`) never raises it twice; the channels then get it once each, as
every alert (alerts.alerts_deliver).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from integrations.litellm.budget_alerts import (
    Side,
    alert_sentence,
    budget_alerts_hand_over,
    budget_alerts_open,
    budget_alerts_recorded,
    period_words,
)
from integrations.litellm.models import BudgetAlert
from portal.access.models import PersonalKey
from portal.connectivity.alerts import alert_raise
from portal.connectivity.models import Alert, Network
from portal.core.queues import DEFAULT_QUEUE, wake

RAISE_TASK = "connectivity.budget_alerts_raise"


def connect() -> None:
    budget_alerts_recorded.connect(_recorded, dispatch_uid="connectivity.budget_alerts")


def _recorded(sender: Any, alert_ids: list[int], **kwargs: Any) -> None:
    wake(RAISE_TASK, kwargs={"alert_ids": alert_ids}, queue=DEFAULT_QUEUE)


def budget_alerts_raise(*, alert_ids: list[int]) -> int:
    """Raise the staff alert of each row not raised yet; returns how many were raised here."""
    return budget_alerts_hand_over(alert_ids=alert_ids, side=Side.STAFF, hand_over=_raise)


def budget_alerts_raise_due() -> int:
    """The beat's net: rows whose wake-up was lost (a broker down, a worker killed)."""
    return budget_alerts_raise(alert_ids=budget_alerts_open(side=Side.STAFF))


def _raise(alert: BudgetAlert) -> str:
    key = alert.key
    # The server's network files it; any network will do for a server on none of them.
    network = (
        Network.objects.filter(name=key.server.network).first() or Network.objects.order_by("name").first()
    )
    if network is None:
        return "not raised: no network is configured to file the alert under"
    holder = PersonalKey.objects.filter(key_id=key.pk).values_list("person__email", flat=True).first()
    whose = f" of {holder}" if holder else ""
    message = (
        f"LiteLLM key {key}{whose} on {key.server.name} has {alert_sentence(alert)} this period. "
        f"{period_words(alert)} The key in the admin: {reverse('admin:litellm_virtualkey_change', args=[key.pk])}"
    )
    raised = alert_raise(kind=Alert.Kind.BUDGET, network=network, target=None, message=message, mutable=False)
    return f"staff alert #{raised.pk} raised on {network.name}"
