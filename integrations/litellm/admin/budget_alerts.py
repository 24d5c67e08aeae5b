"""The budget alerts a key's page lists: each threshold crossed, and whom it reached."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from integrations.litellm.budget_alerts import alert_sentence
from integrations.litellm.models import BudgetAlert, VirtualKey

# The newest first; a key's page stays small however many periods it has lived through.
SHOWN = 20


@admin.display(description="budget alerts sent")
def budget_alerts_display(obj: VirtualKey) -> str:
    alerts = list(BudgetAlert.objects.filter(key=obj).order_by("-id")[:SHOWN])
    if not alerts:
        return "none yet: the person and staff are told when the spend reaches the plan's thresholds"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{alert.created_at:%Y-%m-%d %H:%M} UTC",
                alert_sentence(alert),
                f"{alert.period_reset_at:%Y-%m-%d %H:%M} UTC" if alert.period_reset_at else "never resets",
                alert.person_detail or "waiting",
                alert.staff_detail or "waiting",
            )
            for alert in alerts
        ),
    )
    return format_html(
        '<table class="budget-alerts"><thead><tr><th>when</th><th>crossed</th><th>period ends</th>'
        "<th>the person</th><th>staff</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )
