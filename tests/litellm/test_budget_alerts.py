"""Budget alerts as the sync records them: one row per threshold per budget period, against the
LiteLLM simulator; a reset alerts again, a rotation does not; bad thresholds are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.litellm import budget_alerts, keys, limits, sync
from integrations.litellm.forms import KeyPlanForm
from integrations.litellm.models import BudgetAlert, KeyPlan, LiteLLMServer, VirtualKey
from tests.litellm.test_key_actions import apply, chat
from tests.litellm.test_rotation_budget import WEDNESDAY, Clock
from tests.litellm.test_spend_history import portal_key, raw_of, rotate
from tests.simulators import litellm as simulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One clock for the portal and the simulator (only time is patched)."""
    c = Clock(WEDNESDAY)
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    monkeypatch.setattr(simulator, "_now", lambda: c.now)
    return c


def told(key: VirtualKey) -> list[tuple[str, str]]:
    """(period, threshold) of every alert recorded for the key, in order."""
    return [
        (f"{period:%Y-%m-%d}" if period else "never", threshold)
        for period, threshold in BudgetAlert.objects.filter(key=key)
        .order_by("id")
        .values_list("period_reset_at", "threshold")
    ]


def spend_to(sim: LiteLLMSimulator, key: VirtualKey, amount: float, server: LiteLLMServer) -> None:
    sim.set_spend(raw_of(key), amount)
    sync.keys_sync(server=server)


def made_key(server: LiteLLMServer, clock: Clock, key_limits: limits.KeyLimits) -> VirtualKey:
    key = keys.key_create(server=server, alias="bob", limits=key_limits, keep_secret=True, enqueue=False)
    assert apply(key).ok is True
    clock.advance(minutes=1)  # the sync skips a row told something at its start (test_spend_history)
    return key


def test_it_records_80_then_100_once_each_however_often_the_sync_runs(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock, duration="1d")  # a budget of $10
    spend_to(sim, key, 7.99, server)
    assert told(key) == []
    spend_to(sim, key, 8.0, server)
    sync.keys_sync(server=server)
    spend_to(sim, key, 9.5, server)  # still past 80 % only: nothing new
    assert told(key) == [("2026-12-03", "80")]
    spend_to(sim, key, 10.25, server)
    sync.keys_sync(server=server)
    assert told(key) == [("2026-12-03", "80"), ("2026-12-03", "100")]
    alert = BudgetAlert.objects.get(key=key, threshold="100")
    assert (alert.spend, alert.limit, alert.max_budget) == (Decimal("10.25"), Decimal("10"), Decimal("10"))
    assert budget_alerts.alert_sentence(alert) == "used 100% of its budget: $10.25 of $10.00"


def test_a_hand_over_that_fails_leaves_its_row_open_and_the_others_still_go(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    key = portal_key(server, clock, duration="1d")
    spend_to(sim, key, 10.5, server)  # 80 % and 100 % at once: two rows, the 80 % one oldest
    staff = budget_alerts.Side.STAFF

    def hand_over(alert: BudgetAlert) -> str:
        if alert.threshold == "80":
            raise RuntimeError("the alert channel table is locked")
        return "raised"

    open_ids = budget_alerts.budget_alerts_open(side=staff)
    assert budget_alerts.budget_alerts_hand_over(alert_ids=open_ids, side=staff, hand_over=hand_over) == 1
    first = BudgetAlert.objects.get(key=key, threshold="80")
    assert budget_alerts.budget_alerts_open(side=staff) == [first.pk]  # the beat tries it again
    assert BudgetAlert.objects.get(key=key, threshold="100").staff_detail == "raised"
    assert f"budget alert #{first.pk}: the staff side failed" in caplog.text


def test_chats_accrued_by_the_simulator_cross_the_threshold(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = made_key(server, clock, limits.KeyLimits(max_budget=Decimal("0.0001")))
    assert chat(sim, raw_of(key)) == 200  # the simulator accrues the chat's cost as LiteLLM does
    sync.keys_sync(server=server)
    key.refresh_from_db()
    assert key.spend > 0
    expected = [("never", "80")] + ([("never", "100")] if key.spend >= Decimal("0.0001") else [])
    assert told(key) == expected


def test_a_budget_reset_starts_a_period_that_alerts_again(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock, duration="1d")
    spend_to(sim, key, 8.5, server)
    clock.advance(hours=13)  # past midnight: LiteLLM's reset job zeroes the window
    assert sim.reset_budgets() == 1
    spend_to(sim, key, 1.0, server)
    assert told(key) == [("2026-12-03", "80")]
    spend_to(sim, key, 8.0, server)
    assert told(key) == [("2026-12-03", "80"), ("2026-12-04", "80")]


def test_a_rotation_keeps_the_crossing_told(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock, duration="1d")
    spend_to(sim, key, 8.5, server)
    old_hash = key.token_hash
    rotate(key, clock)
    sync.keys_sync(server=server)
    key.refresh_from_db()
    assert key.token_hash != old_hash and key.spend == Decimal("8.5")  # the new key carries the spend
    assert told(key) == [("2026-12-03", "80")]
    rotate(key, clock)
    spend_to(sim, key, 10.0, server)
    assert told(key) == [("2026-12-03", "80"), ("2026-12-03", "100")]


def test_the_soft_budget_and_the_plans_own_thresholds_are_honoured(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    plan = KeyPlan.objects.create(name="tight", max_budget=Decimal("10"), alert_thresholds=[25, 50])
    key = made_key(server, clock, limits.KeyLimits(max_budget=Decimal("10"), soft_budget=Decimal("3")))
    VirtualKey.objects.filter(pk=key.pk).update(plan=plan)
    spend_to(sim, key, 3.0, server)
    assert told(key) == [("never", "25"), ("never", "soft")]
    spend_to(sim, key, 9.0, server)  # 80 % is not this plan's threshold
    assert told(key) == [("never", "25"), ("never", "soft"), ("never", "50")]
    soft = BudgetAlert.objects.get(key=key, threshold="soft")
    assert budget_alerts.alert_sentence(soft) == "passed its soft budget of $3.00: $3.00 spent"


def test_a_page_of_keys_costs_two_queries_however_many_cross(server: LiteLLMServer) -> None:
    rows = [
        VirtualKey.objects.create(
            server=server, token_hash=f"{n:064x}", max_budget=Decimal("10"), spend=Decimal(9)
        )
        for n in range(40)
    ]
    with CaptureQueriesContext(connection) as queries:
        new = budget_alerts.budget_alerts_check(rows)
    assert len(new) == 40 and len(queries) == 2
    with CaptureQueriesContext(connection) as queries:
        assert budget_alerts.budget_alerts_check(rows) == []  # the same crossings: nothing new
    assert len(queries) == 2


# --- thresholds: refused with a sentence -------------------------------------------------------


def plan_form(thresholds: str) -> KeyPlanForm:
    return KeyPlanForm(data={"name": "p", "alert_thresholds": thresholds, "max_budget": "10"})


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "No thresholds given"),
        ("   ", "No thresholds given"),
        ("0, 80", "0 is outside 1-100"),
        ("80, 101", "101 is outside 1-100"),
        ("9" * 40, "is not a whole percentage"),
        ("80, " * 60 + "90", "Too long"),
        ("80, 80", "80 is given twice"),
        ("100, 80", "out of order (100, 80)"),
        ("80,,100", "An empty entry"),
        ("80, 100,", "An empty entry"),
        ("\uff18\uff10", "is not a whole percentage"),  # fullwidth "80": int() would read it
        ("\u0668\u0660", "is not a whole percentage"),  # Arabic-Indic "80"
        ("80.5", "is not a whole percentage"),
        ("-5", "is not a whole percentage"),
        ("eighty", "is not a whole percentage"),
    ],
)
def test_bad_thresholds_are_refused_with_a_sentence(typed: str, words: str) -> None:
    form = plan_form(typed)
    assert not form.is_valid()
    [error] = form.errors["alert_thresholds"]
    assert words in error and "e.g. 80, 100" in error


def test_good_thresholds_are_kept_as_numbers_and_shown_as_typed() -> None:
    form = plan_form(" 50, 80%, 100 ")
    assert form.is_valid(), form.errors
    plan = form.save()
    assert plan.alert_thresholds == [50, 80, 100]
    assert KeyPlanForm(instance=plan)["alert_thresholds"].value() == "50, 80, 100"
    assert KeyPlan.objects.create(name="fresh").alert_thresholds == [80, 100]


@pytest.mark.parametrize("stored", [[], [80, 80], [90, 10], [0], [True], ["80"], "80, 100"])
def test_the_model_refuses_what_the_form_would(stored: object) -> None:
    from django.core.exceptions import ValidationError

    plan = KeyPlan(name="p", alert_thresholds=stored)
    with pytest.raises(ValidationError) as refused:
        plan.full_clean()
    assert "e.g. 80, 100" in str(refused.value.message_dict["alert_thresholds"])


def test_a_post_that_does_not_name_the_field_keeps_the_plans_thresholds() -> None:
    plan = KeyPlan.objects.create(name="p", alert_thresholds=[50, 90])
    form = KeyPlanForm(data={"name": "p", "max_budget": "10"}, instance=plan)
    assert form.is_valid(), form.errors
    assert form.save().alert_thresholds == [50, 90]
    assert not plan_form("").is_valid()  # sent empty: refused in words
