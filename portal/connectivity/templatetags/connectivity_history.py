"""{% target_history target %}: the history block of a target's page (history.py)."""

from __future__ import annotations

from typing import Any

from django import template

from portal.connectivity.history import target_history as history_build
from portal.connectivity.models import Target

register = template.Library()


@register.inclusion_tag("admin/connectivity/target/history.html")
def target_history(target: Target) -> dict[str, Any]:
    return {"history": history_build(target=target)}
