"""The admin's "Spend" page (LiteLLM app index): top spenders over 30 or 90 days, totals per plan
and per server, keys near or over their budget, each with a forecast; and the small chart on a
key's page. Every chart is SVG drawn here, with its text alternative (templates/charts/)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from integrations.litellm import spend_report
from integrations.litellm.models import KeySpendWindow, VirtualKey
from integrations.litellm.spend_forecast import forecast_words
from integrations.litellm.spend_series import key_spend_chart
from integrations.litellm.spend_windows import WINDOWS, spend_windows_computed_at
from portal.core.admin_pages import admin_page
from portal.core.money import dollars
from portal.core.svg_charts import Rank, rank_chart


def _days(request: HttpRequest) -> tuple[int, str]:
    """The 30/90-day switch; anything else falls back to 30 with a sentence, never a 500."""
    asked = request.GET.get("days", str(WINDOWS[0]))
    if asked in {str(d) for d in WINDOWS}:
        return int(asked), ""
    choices = " or ".join(str(d) for d in WINDOWS)
    return WINDOWS[0], f"Showing {WINDOWS[0]} days: '{asked[:20]}' is not a span this page keeps ({choices})."


def _key_link(request: HttpRequest, line: spend_report.KeyLine) -> str:
    """The key's page, for staff who may open it; "" (the name, unlinked) for the others:
    the Spend page can be granted alone, and a link that answers 403 is a dead end."""
    if not request.user.has_perm("litellm.view_virtualkey"):
        return ""
    return reverse("admin:litellm_virtualkey_change", args=[line.key_id])


@admin.register(KeySpendWindow)
class SpendAdmin(admin.ModelAdmin):
    """A page, not a table: the totals are the beat's, nothing here is edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        days, refusal = _days(request)
        now = timezone.now()
        top = spend_report.top_spenders(days=days, now=now)
        near = spend_report.near_budget(days=days, now=now)
        spenders = rank_chart(
            [
                Rank(
                    f"{line.label} ({line.owner})" if line.owner else line.label,
                    line.spent_in_window,
                    note=forecast_words(line.forecast),
                    link=_key_link(request, line),
                )
                for line in top
            ],
            dom_id="top-spenders",
            title=f"Top spenders, last {days} days",
            summary=_rank_summary(
                [(line.label, line.spent_in_window) for line in top], days=days, what="keys"
            ),
            note_header="At this rate",
            label_width=300,
            width=760,
        )
        groups = {
            name: rank_chart(
                [Rank(label, total) for label, total in totals],
                dom_id=f"per-{name}",
                title=f"Spend per {name}, last {days} days",
                summary=_rank_summary(totals, days=days, what=f"{name}s"),
                width=460,
                label_width=160,
            )
            for name, totals in (
                ("plan", spend_report.spend_per(field="key__plan__name", days=days)),
                ("server", spend_report.spend_per(field="key__server__name", days=days)),
            )
        }
        return admin_page(
            self,
            request,
            "admin/litellm/spend.html",
            title="Spend",
            days=days,
            windows=WINDOWS,
            refusal=refusal,
            computed_at=spend_windows_computed_at(),
            spenders=spenders,
            groups=groups,
            near=[(line, forecast_words(line.forecast), _key_link(request, line)) for line in near],
            may_see_people=request.user.has_perm("accounts.view_user"),
            near_share=int(spend_report.NEAR_BUDGET * 100),
        )


def _rank_summary(totals: list[tuple[str, Decimal]], *, days: int, what: str) -> str:
    if not totals:
        return f"No spend recorded in the last {days} days."
    (first, amount), total = totals[0], sum((t for _, t in totals), Decimal(0))
    return f"{dollars(total)} across the {len(totals)} {what} shown; the most: {first} ({dollars(amount)})."


class KeySpendChartMixin:
    """The key's page: its spend per day (this budget period, or the last 30 days)."""

    @admin.display(description="spend per day")
    def spend_chart(self, obj: VirtualKey) -> str:
        if obj.pk is None:
            return "-"
        return key_spend_chart_html(obj, whose="Spend")


def key_spend_chart_html(key: VirtualKey, *, whose: str, dom_id: str = "key-spend") -> str:
    """The small chart and its forecast, as admin HTML (the person's admin page uses it too)."""
    chart = key_spend_chart(
        key_id=key.pk,
        spent=key.spend,
        max_budget=key.max_budget,
        reset_at=key.budget_reset_at,
        budget_duration=key.budget_duration,
        dom_id=dom_id,
        whose=whose,
        width=480,
        height=110,
    )
    html = render_to_string("admin/litellm/spend_small.html", {"spend": chart})
    return SafeString(html)
