"""Spend history: the sync records what each key spent per hour and per day, as increments
that continue across rotations and budget resets, never negative, never twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.litellm import keys, limits, spend_history, sync
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeySpend, LiteLLMServer, SpendGrain, VirtualKey
from tests.litellm.conftest import stored_key
from tests.litellm.test_key_actions import apply, chat
from tests.litellm.test_rotation_budget import WEDNESDAY, Clock
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


def portal_key(server: LiteLLMServer, clock: Clock, *, duration: str = "") -> VirtualKey:
    key = keys.key_create(
        server=server,
        alias="alice",
        limits=limits.KeyLimits(max_budget=Decimal("10"), budget_duration=duration),
        keep_secret=True,
        enqueue=False,
    )
    assert apply(key).ok is True
    clock.advance(minutes=1)  # see rotate()
    return key


def rotate(key: VirtualKey, clock: Clock) -> None:
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True
    # The sync leaves a row alone when LiteLLM was told something at or after its start
    # (sync._sync_page): with the clock frozen, a sync at the same instant would skip it.
    clock.advance(minutes=1)


def raw_of(key: VirtualKey) -> str:
    key.refresh_from_db()
    assert key.raw_key is not None
    return key.raw_key.reveal()


def history(key: VirtualKey, grain: str) -> list[tuple[dt.datetime, Decimal]]:
    return list(
        KeySpend.objects.filter(key=key, grain=grain).order_by("bucket").values_list("bucket", "amount")
    )


def total(key: VirtualKey, grain: str = SpendGrain.DAY) -> Decimal:
    return KeySpend.objects.filter(key=key, grain=grain).aggregate(s=Sum("amount"))["s"] or Decimal(0)


def test_spend_is_recorded_per_hour_and_per_day_and_a_rerun_adds_nothing(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock)
    sim.set_spend(raw_of(key), 1.5)
    sync.keys_sync(server=server)
    clock.advance(hours=1)
    sim.set_spend(raw_of(key), 2.0)
    sync.keys_sync(server=server)
    sync.keys_sync(server=server)  # nothing new: nothing recorded
    hour = dt.datetime(2026, 12, 2, 11, tzinfo=dt.UTC)  # the clock starts at 11:30
    assert history(key, SpendGrain.HOUR) == [
        (hour, Decimal("1.5")),
        (hour + dt.timedelta(hours=1), Decimal("0.5")),
    ]
    assert history(key, SpendGrain.DAY) == [(dt.datetime(2026, 12, 2, tzinfo=dt.UTC), Decimal("2.0"))]


def test_chats_accrued_by_the_simulator_add_up_to_the_keys_spend(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock)
    for _ in range(3):
        assert chat(sim, raw_of(key)) == 200
        sync.keys_sync(server=server)
        clock.advance(minutes=30)
    spent = Decimal(str(stored_key(sim, key.token_hash)["spend"]))
    assert spent > 0 and total(key) == total(key, SpendGrain.HOUR) == spent.quantize(Decimal("0.000001"))


def test_the_series_continues_across_two_rotations_and_a_budget_reset_and_never_goes_negative(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = portal_key(server, clock, duration="1d")
    sim.set_spend(raw_of(key), 2.0)
    sync.keys_sync(server=server)
    sim.set_spend(raw_of(key), 3.0)  # spent after the sync, before the rotation
    rotate(key, clock)
    assert key.spend == Decimal("3")  # the rotation refreshed `spend`
    sync.keys_sync(server=server)
    assert total(key) == Decimal("3")  # what was spent before the rotation is still recorded
    sim.set_spend(raw_of(key), 4.0)
    rotate(key, clock)
    sync.keys_sync(server=server)
    assert total(key) == Decimal("4")
    clock.advance(hours=13)  # past midnight: LiteLLM's reset job zeroes the window
    assert sim.reset_budgets() == 1
    sim.set_spend(raw_of(key), 0.75)
    sync.keys_sync(server=server)
    assert history(key, SpendGrain.DAY) == [
        (dt.datetime(2026, 12, 2, tzinfo=dt.UTC), Decimal("4")),
        (dt.datetime(2026, 12, 3, tzinfo=dt.UTC), Decimal("0.75")),
    ]
    assert not KeySpend.objects.filter(amount__lte=0).exists()


def test_a_key_adopted_by_the_sync_starts_its_history_from_then(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    (raw,) = sim.seed_keys(1, spend=7.0)
    sync.keys_sync(server=server)
    row = VirtualKey.objects.get(token_hash=hash_token(raw))
    assert not KeySpend.objects.exists() and row.spend_recorded == Decimal("7")
    sim.set_spend(raw, 7.25)
    sync.keys_sync(server=server)
    assert total(row) == Decimal("0.25")


def test_a_lower_reading_without_a_reset_records_nothing_and_keeps_the_baseline() -> None:
    reset = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert spend_history.spend_increment(Decimal(5), Decimal(4), reset_before=reset, reset_after=reset) == 0
    assert (
        spend_history.spend_increment(
            Decimal(5), Decimal(1), reset_before=reset, reset_after=reset.replace(month=2)
        )
        == 1
    )
    assert spend_history.spend_increment(Decimal(5), Decimal(6), reset_before=None, reset_after=None) == 1


def test_recording_costs_the_same_queries_per_page_for_every_key_that_spent(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    raws = sim.seed_keys(300, spend=1.0)
    sync.keys_sync(server=server)  # baselines
    for raw in raws[:100]:
        sim.set_spend(raw, 2.0)
    with CaptureQueriesContext(connection) as few:
        sync.keys_sync(server=server)
    for raw in raws:
        sim.set_spend(raw, 3.0)
    with CaptureQueriesContext(connection) as many:
        sync.keys_sync(server=server)
    assert KeySpend.objects.filter(grain=SpendGrain.DAY).aggregate(s=Sum("amount"))["s"] == Decimal(
        100 + 100 + 2 * 200
    )
    print(f"queries: {len(few)} with 100 keys spending, {len(many)} with 300")
    import collections

    print(collections.Counter(q["sql"][:90] for q in many.captured_queries).most_common(5))
    # Three pages: a few queries each, not one per key (100 keys changed vs 300).
    assert len(many) <= len(few) + 3 * 6 and len(many) < 60


def test_old_history_is_pruned_hourly_after_90_days_and_daily_after_13_months(
    server: LiteLLMServer, settings: object
) -> None:
    key = VirtualKey.objects.create(server=server, token_hash="h" * 64, key_alias="k")
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    ages = {SpendGrain.HOUR: (89, 91), SpendGrain.DAY: (395, 397)}
    for grain, days in ages.items():
        for age in days:
            KeySpend.objects.create(key=key, grain=grain, bucket=now - dt.timedelta(days=age), amount=1)
    assert spend_history.spend_history_prune(now=now, batch=1) == 2
    kept = sorted((g, (now - b).days) for g, b in KeySpend.objects.values_list("grain", "bucket"))
    assert kept == [(SpendGrain.DAY, 395), (SpendGrain.HOUR, 89)]


def test_two_syncs_at_once_record_each_increment_once(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    import threading

    from django.db import connections

    raws = sim.seed_keys(250, spend=1.0)
    sync.keys_sync(server=tx_server)  # baselines
    for raw in raws:
        sim.set_spend(raw, 1.5)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            sync.keys_sync(server=LiteLLMServer.objects.get(pk=tx_server.pk))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    spent = KeySpend.objects.filter(grain=SpendGrain.DAY).aggregate(s=Sum("amount"))["s"]
    assert spent == Decimal("0.5") * 250
