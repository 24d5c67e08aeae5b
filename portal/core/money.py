"""Amounts of US dollars as people read them: cents, except that an amount under a cent keeps
its first two figures ($0.00042, not $0.00), since one chat on a cheap model costs that much
and "0.00 used" after a day of chats reads as "nothing recorded". Rounded half up, as the
templates' floatformat did, so a chart's sentence and its table never differ by a cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
SMALLEST_SHOWN = Decimal("0.000001")


def usd(amount: Decimal | float | int | str | None) -> str:
    """ "12.50", "0.00", "0.00042", "under 0.000001" for dust, "" for no amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    if not value.is_finite():
        return str(amount)
    if value == 0 or abs(value) >= CENT:
        return str(value.quantize(CENT, ROUND_HALF_UP))
    if abs(value) < SMALLEST_SHOWN:
        return "under 0.000001" if value > 0 else "0.00"
    places = min(-value.adjusted() + 1, 6)  # two significant figures
    return str(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)).rstrip("0")


def dollars(amount: Decimal | float | int | None) -> str:
    """ "$12.50", "$0.00042": usd() with its sign, for sentences."""
    return f"${usd(amount)}"
