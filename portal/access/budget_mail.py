"""A person hears by e-mail when their own key crosses a budget alert threshold.

integrations.litellm records each crossing once (integrations/litellm/budget_alerts.py) and
sends `budget_alerts_recorded` after commit; the receiver wakes task
`access.budget_alerts_mail`. The mail is queued in the outbox (portal/core/mail.py, which
sends and retries it) in the same transaction that marks the row's person side done, so a
second worker or the beat (`access.personal_keys_due`) never queues it twice. A person's chain
of keys is one key row, so the row's holder is who is told.
"""

from __future__ import annotations

from typing import Any

from integrations.litellm.budget_alerts import (
    Side,
    budget_alerts_hand_over,
    budget_alerts_open,
    budget_alerts_recorded,
    period_words,
)
from integrations.litellm.models import SOFT_BUDGET_THRESHOLD, BudgetAlert
from portal.access.models import PersonalKey
from portal.core import mail
from portal.core.money import dollars
from portal.core.queues import DEFAULT_QUEUE, wake

MAIL_TASK = "access.budget_alerts_mail"


def connect() -> None:
    budget_alerts_recorded.connect(_recorded, dispatch_uid="access.budget_alerts")


def _recorded(sender: Any, alert_ids: list[int], **kwargs: Any) -> None:
    wake(MAIL_TASK, kwargs={"alert_ids": alert_ids}, queue=DEFAULT_QUEUE)


def budget_alerts_mail(*, alert_ids: list[int]) -> int:
    """Mail the holder of each row's key, once; returns how many rows were handed over here."""
    return budget_alerts_hand_over(alert_ids=alert_ids, side=Side.PERSON, hand_over=_mail)


def budget_alerts_mail_due() -> int:
    """The beat's net: rows whose wake-up was lost (a broker down, a worker killed)."""
    return budget_alerts_mail(alert_ids=budget_alerts_open(side=Side.PERSON))


def _mail(alert: BudgetAlert) -> str:
    record = PersonalKey.objects.select_related("person").filter(key_id=alert.key_id).first()
    if record is None:
        return "no person holds this key (staff were told)"
    person = record.person
    if not person.is_active or not person.email:
        return "the person is deactivated or has no address: not mailed"
    if alert.threshold == SOFT_BUDGET_THRESHOLD:
        subject = "You have passed your AI soft budget"
        what = f"You have passed your soft budget of {dollars(alert.limit)}: {dollars(alert.spend)} spent so far."
    else:
        budget = alert.max_budget if alert.max_budget is not None else alert.limit
        subject = f"You have used {alert.threshold}% of your AI budget"
        what = f"You have used {alert.threshold}% of your AI budget: {dollars(alert.spend)} of {dollars(budget)}."
        if alert.threshold == "100":
            what += " Your key stops working until the budget resets or staff raise it."
    body = f"{what}\n\n{period_words(alert)}\n\nYour spend per day: the portal's My AI access page (/me/).\n"
    mail.budget_alert(email=person.email, subject=subject, body=body)
    return f"mailed to {person.email}"


def budget_alert_line(*, key_id: int, period_reset_at: Any) -> str:
    """The /me/ line for this budget period, "" when no threshold was crossed. One query."""
    thresholds = set(
        BudgetAlert.objects.filter(key_id=key_id, period_reset_at=period_reset_at).values_list(
            "threshold", flat=True
        )
    )
    percents = [int(t) for t in thresholds if t.isdigit()]
    if percents:
        return f"You have used {max(percents)}% of your budget this period."
    if SOFT_BUDGET_THRESHOLD in thresholds:
        return "You have passed your soft budget this period."
    return ""
