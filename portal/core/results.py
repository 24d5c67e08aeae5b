"""A dataclass report as a task result: what a task returns sits in the result backend, so
only plain values (names, states, counts and sentences, never a secret) go there."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def result_of(report: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every field of the dataclass `report` by name but those in `leave_out`; a dict is
    copied, a tuple becomes a list."""
    result: dict[str, Any] = {}
    for f in fields(report):
        if f.name in leave_out:
            continue
        value = getattr(report, f.name)
        if isinstance(value, dict):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        result[f.name] = value
    return result
