"""`{{ amount|usd }}`: portal.core.money.usd in templates (cents, or a sub-cent's figures)."""

from __future__ import annotations

from django import template

from portal.core.money import usd as usd_words

register = template.Library()


@register.filter
def usd(amount: object) -> str:
    return usd_words(amount)  # type: ignore[arg-type]
