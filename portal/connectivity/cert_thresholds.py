"""Certificate expiry thresholds: "30, 14, 7" days left, per target or network."""

from __future__ import annotations

from django.core.exceptions import ValidationError

DEFAULT_DAYS = (30, 14, 7)
MAX_DAYS = 365


def parse_tls_alert_days(text: str) -> tuple[int, ...]:
    """The thresholds, largest first; ValueError with a sentence for anything else."""
    days: set[int] = set()
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        # ASCII digits only: str.isdigit() also takes "¹⁴" (int() refuses it) and "١٤" (int()
        # reads 14), look-alikes an operator cannot tell from what was meant. Short before int():
        # thousands of digits would fail int() itself with a message that is not a sentence.
        if not (item.isascii() and item.isdigit()) or len(item) > 3 or not 1 <= int(item) <= MAX_DAYS:
            raise ValueError(
                f"{item[:20]!r} is not a number of days: use whole numbers from 1 to {MAX_DAYS}, "
                "written with the digits 0-9 and comma-separated (e.g. 30, 14, 7)."
            )
        days.add(int(item))
    return tuple(sorted(days, reverse=True))


def validate_tls_alert_days(value: str) -> None:
    try:
        parse_tls_alert_days(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_days") from None
