"""`{% setup_checklist %}`: the guided setup on the admin index (portal/setup_checklist.py)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from portal.setup_checklist import setup_checklist as checklist_read

register = template.Library()


@register.inclusion_tag("admin/portal/setup_checklist.html")
def setup_checklist() -> dict[str, Any]:
    return {
        "checklist": checklist_read(),
        "waiting_url": reverse("admin:accounts_user_changelist") + "?signup=waiting",
    }
