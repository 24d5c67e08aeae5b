"""A rotation keeps the budget: the spend of this window, the reset date, and, during a staff
key's grace period, one budget for the old and the new key together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.litellm import key_work, keys, limits, rotation, rotation_pair
from integrations.litellm.models import LiteLLMServer, VirtualKey
from integrations.litellm.servers import client_for
from portal.accounts.models import User
from tests.litellm.conftest import stored_key
from tests.litellm.test_key_actions import apply
from tests.simulators import litellm as simulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db

WEDNESDAY = dt.datetime(2026, 12, 2, 11, 30, tzinfo=dt.UTC)
PER_CALL = 0.125  # exact in binary: the sums below are exact too


class Clock:
    """One clock for the portal and the simulator (only time is patched)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock(WEDNESDAY)
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    monkeypatch.setattr(simulator, "_now", lambda: c.now)
    yield c


def make_key(server: LiteLLMServer, sim: LiteLLMSimulator, *, duration: str = "30d") -> VirtualKey:
    created = keys.key_create(
        server=server,
        alias="team-search",
        limits=limits.KeyLimits(max_budget=Decimal("10"), budget_duration=duration),
        keep_secret=True,
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=created.pk)
    created.refresh_from_db()
    assert created.raw_key is not None
    sim.set_spend(created.raw_key.reveal(), 9.5)
    return created


def chat(sim: LiteLLMSimulator, raw: str) -> int:
    response = requests.post(
        sim.base_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {raw}"},
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    return response.status_code


def spend_until_refused(sim: LiteLLMSimulator, raw: str, limit: int = 50) -> int:
    for calls in range(limit):
        if chat(sim, raw) != 200:
            return calls
    raise AssertionError("the key never stopped")


def rotate_into_grace(key: VirtualKey, server: LiteLLMServer, minutes: int = 60) -> str:
    """Rotate with a grace period; returns the old raw key (it keeps working)."""
    LiteLLMServer.objects.filter(pk=server.pk).update(rotation_grace_minutes=minutes)
    assert key.raw_key is not None
    old_raw = key.raw_key.reveal()
    keys.key_rotate(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is None and key.rotation_step == "grace", outcome.detail
    return old_raw


def next_turn(key: VirtualKey) -> key_work.ActionOutcome:
    """The beat hands out the rotation's turn; a worker applies it."""
    assert rotation.rotations_in_grace_due() == 1
    return apply(key)


def test_a_staff_key_at_9_5_of_10_is_at_9_5_of_10_after_rotating_with_the_same_reset_date(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim)
    old = stored_key(sim, key.token_hash)
    clock.advance(days=5)  # rotated on another day of the same month
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True
    new = stored_key(sim, key.token_hash)
    assert new["token"] != old["token"] and new["spend"] == 9.5 and new["max_budget"] == 10.0
    assert new["budget_reset_at"] == old["budget_reset_at"] == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert key.spend == Decimal("9.5") and key.budget_reset_at == new["budget_reset_at"]


def test_a_key_whose_window_is_over_starts_the_next_one_at_zero(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim, duration="1d")
    clock.advance(hours=13)  # past midnight; LiteLLM's reset job has not run yet
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True
    new = stored_key(sim, key.token_hash)
    # Carrying 9.5 into the new window would take a day's budget that was never spent in it.
    assert new["spend"] == 0.0 and new["budget_reset_at"] == dt.datetime(2026, 12, 4, tzinfo=dt.UTC)


def test_a_key_holding_a_duration_whose_reset_date_cannot_be_kept_is_not_rotated(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim, duration="10d")  # a row from before the forms refused it
    old_hash = key.token_hash
    keys.key_rotate(key=key, enqueue=False)
    outcome = apply(key)
    assert outcome.ok is False
    assert "budget duration '10d' would restart the budget period" in outcome.detail
    assert "7d or 1w (Monday)" in outcome.detail  # what to use instead
    assert key.token_hash == old_hash and key.rotation_step == "" and sim.key_count() == 1
    assert key.raw_key is not None and chat(sim, key.raw_key.reveal()) == 200


def test_during_the_grace_period_both_keys_work_and_together_spend_no_more_than_the_budget(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    sim.configure(spend_per_call=PER_CALL)
    key = make_key(server, sim)
    old_hash = key.token_hash
    old_raw = rotate_into_grace(key, server)
    assert key.raw_key is not None
    new_raw = key.raw_key.reveal()
    assert key.rotation_retire_at == WEDNESDAY + dt.timedelta(minutes=60)
    assert stored_key(sim, old_hash)["budget_reset_at"] == stored_key(sim, key.token_hash)["budget_reset_at"]

    old_calls = spend_until_refused(sim, old_raw)
    new_calls = spend_until_refused(sim, new_raw)

    old, new = stored_key(sim, old_hash), stored_key(sim, key.token_hash)
    # The old key's 9.5 is counted on both: once is the pair's real spend.
    pair_spent = old["spend"] + new["spend"] - 9.5
    assert old_calls == new_calls == 2  # half of the remaining 0.5 each
    assert pair_spent == 10.0  # the whole budget, never past it
    assert old["max_budget"] + new["max_budget"] == 10 + 9.5


def test_each_turn_moves_the_shared_budget_towards_the_key_in_use(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    sim.configure(spend_per_call=PER_CALL)
    key = make_key(server, sim)
    old_hash = key.token_hash
    rotate_into_grace(key, server)
    assert key.raw_key is not None
    assert chat(sim, key.raw_key.reveal()) == 200  # the new key is used, the old one is quiet
    clock.advance(minutes=1)
    outcome = next_turn(key)
    assert outcome.ok is None and "keeps working until 2026-12-02 12:30 UTC" in outcome.detail
    old, new = stored_key(sim, old_hash), stored_key(sim, key.token_hash)
    # 0.375 remains: 10 % stays with the quiet old key, 90 % goes to the new one.
    assert old["max_budget"] == pytest.approx(9.5 + 0.0375)
    assert new["max_budget"] == pytest.approx(9.625 + 0.3375)
    assert old["max_budget"] + new["max_budget"] == pytest.approx(19.5)
    assert spend_until_refused(sim, key.raw_key.reveal()) == 3  # 0.3375 at 0.125 a call
    assert key.max_budget == Decimal("10")  # the row keeps the budget, LiteLLM the parts


def test_after_the_grace_period_the_old_keys_spend_moves_over_and_the_old_key_goes(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    sim.configure(spend_per_call=PER_CALL)
    key = make_key(server, sim)
    old_hash = key.token_hash
    old_raw = rotate_into_grace(key, server)
    assert key.raw_key is not None
    new_raw = key.raw_key.reveal()
    assert chat(sim, old_raw) == 200 and chat(sim, new_raw) == 200
    reset_before = stored_key(sim, old_hash)["budget_reset_at"]

    clock.advance(minutes=61)
    outcome = next_turn(key)

    assert outcome.ok is True, outcome.detail
    assert sim.get_key(old_hash or "") is None and chat(sim, old_raw) != 200
    new = stored_key(sim, key.token_hash)
    assert new["spend"] == 9.5 + 2 * PER_CALL and new["max_budget"] == 10.0
    assert new["key_alias"] == "team-search" and new["budget_reset_at"] == reset_before
    assert key.spend == Decimal("9.75") and key.rotation_step == "" and key.rotation_old_name == ""
    assert rotation.rotations_in_grace_due() == 0


def test_a_settle_whose_answer_was_lost_is_not_added_twice(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    sim.configure(spend_per_call=PER_CALL)
    key = make_key(server, sim)
    old_raw = rotate_into_grace(key, server)
    assert chat(sim, old_raw) == 200
    clock.advance(minutes=61)
    VirtualKey.objects.filter(pk=key.pk).update(rotation_step="settle")
    key.refresh_from_db()
    with client_for(server) as client:
        rotation_pair.settle(key, client)  # LiteLLM wrote it; the worker died before the row
    VirtualKey.objects.filter(pk=key.pk).update(pending_action="rotate", next_attempt_at=None)
    assert apply(key).ok is True
    assert stored_key(sim, key.token_hash)["spend"] == 9.5 + PER_CALL


def test_during_the_grace_period_other_changes_wait_and_a_delete_removes_both_keys(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim)
    rotate_into_grace(key, server)
    with pytest.raises(ValueError, match="old key keeps working until 2026-12-02 12:30 UTC"):
        keys.key_block(key=key, enqueue=False)
    keys.key_delete(key=key, enqueue=False)
    assert apply(key).ok is True and sim.key_count() == 0


def test_the_admin_list_shows_both_keys_until_the_old_one_retires(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock, client: Client
) -> None:
    key = make_key(server, sim)
    old_name = key.key_name
    rotate_into_grace(key, server)
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="a long pass 1"))
    page = client.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    assert key.key_name in page
    assert f"{old_name} retiring until 2026-12-02 12:30 UTC" in page
    assert "rotate: grace period (both keys share the budget)" in page


def test_without_a_grace_period_the_old_key_goes_at_once(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim)
    old_hash = key.token_hash
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True and sim.get_key(old_hash or "") is None
    assert sim.calls[("POST", "/key/block")] == 0  # nothing to settle


def test_the_budget_shared_by_a_rotations_two_keys_is_not_drift(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    """While the two keys share the budget, LiteLLM holds the new key's share as its
    max_budget. Reading the key back (a refresh, allowed during a person's hand-over, reads it
    as below) must not call that "changed in LiteLLM": restoring "ours" would hand the new key
    the whole rest of the budget beside the old key's share."""
    from integrations.litellm import sync

    key = make_key(server, sim)
    rotate_into_grace(key, server)
    share = stored_key(sim, key.token_hash)["max_budget"]
    assert share < 10.0  # LiteLLM holds a share, the row the budget
    assert key.token_hash is not None
    found = client_for(server).key_find(token_hash=key.token_hash)
    assert found is not None
    clock.advance(seconds=30)
    sync.key_apply_info(key, found, told=())  # what key_work's refresh does
    assert key.max_budget == Decimal("10") and key.drift_found_at is None and key.drift_limits == {}
    sync.keys_sync(server=server)  # and a sync leaves a rotating key alone
    key.refresh_from_db()
    assert key.max_budget == Decimal("10") and key.drift_found_at is None


def test_when_the_budget_period_turns_during_the_grace_period_the_pair_shares_the_new_one(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    key = make_key(server, sim, duration="1h")  # resets at 12:00, inside the grace period
    old_hash = key.token_hash
    rotate_into_grace(key, server)
    clock.advance(minutes=31)
    assert sim.reset_budgets() == 2  # LiteLLM's reset job zeroes both keys
    assert next_turn(key).ok is None
    old, new = stored_key(sim, old_hash), stored_key(sim, key.token_hash)
    # The old 9.5 is no longer counted on either key: the two share the new period's 10.
    assert old["max_budget"] + new["max_budget"] == pytest.approx(10.0)
    assert key.rotation_swap_spend == 0 and key.budget_reset_at == dt.datetime(2026, 12, 2, 13, tzinfo=dt.UTC)


def test_a_new_key_knows_when_its_budget_starts_again_from_the_moment_it_is_made(
    server: LiteLLMServer, sim: LiteLLMSimulator, clock: Clock
) -> None:
    """/key/generate does not answer the reset date; the create reads it back, so the key's
    page and /me/ show it before any sync."""
    key = make_key(server, sim)
    assert key.budget_reset_at == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert key.budget_reset_at == stored_key(sim, key.token_hash)["budget_reset_at"]
