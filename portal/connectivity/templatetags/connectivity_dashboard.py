from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """99.95 -> "99.95 %", no data -> "n/a" (never 100 % for a cell nobody checked)."""
    if value is None:
        return "n/a"
    return f"{value:.2f} %" if value < 100 else "100 %"
