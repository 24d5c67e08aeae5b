"""The simulator's budget windows follow LiteLLM 1.106.2 (the contract page is silent on them):
the reset date computed at creation, no reset date taken from the caller, spend that covers
only the current window. One test runs LiteLLM's own function and compares.

Sources: proxy/management_endpoints/key_management_endpoints.py (`_effective_key_for_generate`,
`prepare_key_update_data`, the /key/info docstring), proxy/common_utils/timezone_utils.py
(`get_budget_reset_time` -> `compute_budget_reset_at`), litellm_core_utils/duration_parser.py
(`get_next_standardized_reset_time` and its `_handle_*_reset` helpers),
proxy/common_utils/reset_budget_job.py (the reset job).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.real_litellm import litellm_venv
from tests.simulators import litellm as simulator
from tests.simulators.litellm import LiteLLMSimulator, next_budget_reset
from tests.simulators.test_litellm_simulator import MASTER, call, generate

# A Wednesday, mid-morning, mid-month.
WEDNESDAY = datetime(2026, 12, 2, 11, 30, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[LiteLLMSimulator]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=11)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server: LiteLLMSimulator) -> Iterator[LiteLLMSimulator]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The simulator's clock, set by the test (now[0])."""
    now = [WEDNESDAY]
    monkeypatch.setattr(simulator, "_now", lambda: now[0])
    return now


def reset_at(sim: LiteLLMSimulator, body: dict[str, Any]) -> datetime:
    row = sim.get_key(body["token"])
    assert row is not None
    value: datetime = row["budget_reset_at"]
    return value


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("30d", datetime(2027, 1, 1, tzinfo=UTC)),  # the 1st of the month
        ("1mo", datetime(2027, 1, 1, tzinfo=UTC)),
        ("monthly", datetime(2027, 1, 1, tzinfo=UTC)),
        ("7d", datetime(2026, 12, 7, tzinfo=UTC)),  # Monday
        ("1w", datetime(2026, 12, 7, tzinfo=UTC)),
        ("1d", datetime(2026, 12, 3, tzinfo=UTC)),  # the next midnight
        ("24h", datetime(2026, 12, 3, tzinfo=UTC)),
        ("1h", datetime(2026, 12, 2, 12, tzinfo=UTC)),  # the next hour
        ("6h", datetime(2026, 12, 2, 12, tzinfo=UTC)),  # the next multiple of 6 hours
        ("15m", datetime(2026, 12, 2, 11, 45, tzinfo=UTC)),
        # Not creation + 10 days: midnight of the day of creation + 10 days (_handle_day_reset).
        ("10d", datetime(2026, 12, 12, tzinfo=UTC)),
        ("2w", datetime(2026, 12, 16, tzinfo=UTC)),
    ],
)
def test_a_new_keys_reset_date_is_computed_from_its_budget_duration_at_creation(
    sim: LiteLLMSimulator, clock: list[datetime], duration: str, expected: datetime
) -> None:
    assert reset_at(sim, generate(sim, budget_duration=duration)) == expected


def test_a_reset_date_sent_by_the_caller_is_ignored_by_generate_and_update(
    sim: LiteLLMSimulator, clock: list[datetime]
) -> None:
    # GenerateKeyRequest / UpdateKeyRequest have no budget_reset_at (_types.py): pydantic drops it.
    body = generate(sim, budget_duration="30d", budget_reset_at="2026-12-20T00:00:00Z")
    assert reset_at(sim, body) == datetime(2027, 1, 1, tzinfo=UTC)
    answer = call(sim, "POST", "/key/update", json={"key": body["token"], "budget_reset_at": "2026-12-20"})
    assert answer.status_code == 200, answer.text
    assert reset_at(sim, body) == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_update_of_the_budget_duration_computes_the_reset_date_again_from_now(
    sim: LiteLLMSimulator, clock: list[datetime]
) -> None:
    body = generate(sim, budget_duration="1d")
    clock[0] = WEDNESDAY + timedelta(days=3)
    answer = call(sim, "POST", "/key/update", json={"key": body["token"], "budget_duration": "10d"})
    assert answer.status_code == 200, answer.text
    assert reset_at(sim, body) == datetime(2026, 12, 15, tzinfo=UTC)


def test_the_reset_date_is_not_in_the_generate_answer_but_in_key_info(
    sim: LiteLLMSimulator, clock: list[datetime]
) -> None:
    body = generate(sim, budget_duration="30d", spend=9.5)
    assert "budget_reset_at" not in body and body["spend"] == 9.5  # GenerateKeyResponse
    info = call(sim, "GET", "/key/info", params={"key": body["token"]}).json()["info"]
    assert info["budget_reset_at"].startswith("2027-01-01T00:00:00") and info["spend"] == 9.5


def test_spend_covers_only_the_current_window(sim: LiteLLMSimulator, clock: list[datetime]) -> None:
    body = generate(sim, budget_duration="1d", max_budget=10, spend=9.5)
    assert sim.reset_budgets() == 0  # the window is not over: the reset job leaves it
    assert sim.get_key(body["token"])["spend"] == 9.5  # type: ignore[index]
    clock[0] = datetime(2026, 12, 3, 0, 5, tzinfo=UTC)
    assert sim.reset_budgets() == 1
    row = sim.get_key(body["token"])
    assert row is not None and row["spend"] == 0.0
    assert row["budget_reset_at"] == datetime(2026, 12, 4, tzinfo=UTC)  # the next window's end


def _instants() -> list[datetime]:
    """Moments that reach every branch: month ends, year end, Sunday night, last hour."""
    return [
        datetime(2026, 12, 2, 11, 30, 15, 123000, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2027, 2, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 6, 23, 45, tzinfo=UTC),  # a Sunday
        datetime(2026, 12, 7, 0, 0, tzinfo=UTC),  # Monday midnight exactly
        datetime(2026, 12, 1, 0, 0, tzinfo=UTC),  # the 1st, midnight exactly
        datetime(2026, 12, 2, 22, 10, tzinfo=UTC),
    ]


DURATIONS: tuple[str, ...] = ("30d", "1mo", "7d", "1w", "1d", "24h", "1h", "2h", "5h", "6h", "12h")
DURATIONS += ("10d", "2w", "15m", "7m", "30s", "hourly", "daily", "weekly", "monthly")


def test_the_reset_dates_match_litellms_own_function() -> None:
    python = litellm_venv() / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no LiteLLM venv at {litellm_venv()} (make litellm-venv)")
    cases = [(d, t.isoformat()) for d in DURATIONS for t in _instants()]
    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from litellm.litellm_core_utils.duration_parser import get_next_standardized_reset_time\n"
        "cases = json.load(sys.stdin)\n"
        "print(json.dumps([get_next_standardized_reset_time(d, datetime.fromisoformat(t)).isoformat()"
        " for d, t in cases]))\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [str(python), "-c", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = [next_budget_reset(d, datetime.fromisoformat(t)).isoformat() for d, t in cases]
    mismatches = [(case, a, b) for case, a, b in zip(cases, theirs, ours, strict=True) if a != b]
    assert not mismatches, mismatches
