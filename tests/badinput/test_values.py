"""Durations, budgets and target addresses as values (hypothesis): what the portal accepts is
what LiteLLM and the probes accept, and what it refuses it refuses with a sentence."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.litellm.forms import KeyPlanForm, validate_budget_duration, validate_duration
from portal.connectivity.models import Target
from tests.simulators.litellm import budget_duration_error, duration_in_seconds

EXAMPLES = int(os.environ.get("BADINPUT_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

durations = st.one_of(
    st.builds(
        lambda n, unit, pad: f"{pad}{n}{unit}{pad}",
        st.integers(-5, 10**7),
        st.sampled_from(["s", "m", "h", "d", "w", "mo", "", "D", "y", "min", "mos"]),
        st.sampled_from(["", "", "", " ", "\n"]),
    ),
    st.text(max_size=12),
    st.sampled_from(["30d", "1mo", "12mo", "999999mo", "999999w", "999999d", "daily", "0d", "1e3d"]),
)


def accepted(value: str, validator: Callable[[str], None] = validate_duration) -> bool:
    try:
        validator(value)
    except ValidationError as error:
        assert "LiteLLM" in " ".join(error.messages)
        return False
    return True


@SETTINGS
@given(value=durations)
def test_a_budget_duration_the_portal_accepts_is_one_litellm_accepts(value: str) -> None:
    if accepted(value, validate_budget_duration) and value:
        assert budget_duration_error(value) is None, value


@SETTINGS
@given(value=durations)
def test_a_key_lifetime_the_portal_accepts_is_one_litellm_can_add_to_now(value: str) -> None:
    if accepted(value) and value:
        # LiteLLM: expires = now + timedelta(seconds=duration_in_seconds(duration)) (§2.1 duration)
        assert datetime.now(UTC) + timedelta(seconds=duration_in_seconds(value)) > datetime.now(UTC)


@pytest.mark.parametrize("value", ["30s", "30m", "24h", "30d", "1w", "1mo", "12mo"])
def test_it_accepts_the_key_lifetimes_people_write(value: str) -> None:
    assert accepted(value)


@pytest.mark.parametrize("value", ["30s", "30m", "24h", "30d", "1w", "1mo", "1d", "7d", "6h"])
def test_it_accepts_the_budget_durations_people_write(value: str) -> None:
    assert accepted(value, validate_budget_duration)


@pytest.mark.parametrize("value", ["2mo", "999999d", "30d\n", "0d", "1e3d", "30 d"])
def test_it_refuses_budget_durations_litellm_would_refuse(value: str) -> None:
    assert not accepted(value, validate_budget_duration)


budgets = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["NaN", "sNaN", "-NaN", "inf", "-Infinity", "1e309", "-0", "-0.0001", "1e12", "99999999.99999"]
    ),
    st.text(max_size=15),
)


@SETTINGS
@given(max_budget=budgets, soft_budget=budgets)
def test_a_budget_is_a_finite_non_negative_amount_or_a_field_error(
    db: None, max_budget: str, soft_budget: str
) -> None:
    form = KeyPlanForm(data={"name": "plan", "max_budget": max_budget, "soft_budget": soft_budget})
    valid = form.is_valid()
    for name in ("max_budget", "soft_budget"):
        if name in form.errors:
            assert all(str(message).strip() for message in form.errors[name])
            continue
        value = form.cleaned_data.get(name)
        if value is not None:
            assert isinstance(value, Decimal) and value.is_finite() and value >= 0
            assert value < Decimal(10) ** 8  # fits DecimalField(max_digits=12, decimal_places=4)
    if valid:
        form.save()  # and the database takes it


hosts = st.sampled_from(
    [
        "127.0.0.1",
        "[::1]",
        "::1",
        "localhost",
        "db",
        "",
        "256.1.1.1",
        "[fe80::1%eth0]",
        "exa mple",
        "ü.example",
        "a" * 300,
    ]
)
addresses = st.one_of(
    st.builds(
        lambda scheme, user, host, port, path: f"{scheme}{user}{host}{port}{path}",
        st.sampled_from(
            [
                "http://",
                "https://",
                "tcp://",
                "dns://",
                "postgres://",
                "postgresql://",
                "redis://",
                "ftp://",
                "",
                "//",
            ]
        ),
        st.sampled_from(["", "u@", "u:secret@", ":secret@", "@"]),
        hosts,
        st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"), st.just(":x")),
        st.sampled_from(["", "/", "/health", "/db?sslmode=require", "/0", "#frag", "/%00"]),
    ),
    st.text(max_size=40),
)


@SETTINGS
@given(address=addresses)
def test_a_target_address_is_usable_or_a_field_error(db: None, address: str) -> None:
    target = Target(name="t", address=address, timeout_seconds=2.0)
    try:
        target.full_clean(exclude=["name"])
    except ValidationError as error:
        assert "address" in error.message_dict or error.message_dict, address
        return
    spec = target.probe_spec()  # the worker can probe what the admin accepted
    assert "secret" not in target.address  # a password never stays in the shown address
    assert spec.kind.value == target.kind
