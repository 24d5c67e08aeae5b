"""`{% setup_checklist %}`: the guided setup on the admin index (portal/setup_checklist.py)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from portal.setup_checklist import may_open
from portal.setup_checklist import setup_checklist as checklist_read

register = template.Library()


@register.inclusion_tag("admin/portal/setup_checklist.html", takes_context=True)
def setup_checklist(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    checklist = checklist_read()
    waiting_url = reverse("admin:accounts_user_changelist") + "?signup=waiting"
    return {
        "checklist": checklist,
        # Each step with whether this staff member may open its page: if not, its sentence stands
        # without the link (it would only 403) and says who can do it.
        "steps": [(step, may_open(request, step.url)) for step in checklist.steps],
        "waiting_url": waiting_url if may_open(request, waiting_url) else "",
    }
