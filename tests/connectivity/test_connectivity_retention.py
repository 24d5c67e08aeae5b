"""Old check results are pruned after a configurable number of days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from portal.connectivity import checks, retention
from portal.connectivity.models import CheckResult, HourlyRollup
from tests.connectivity.factories import make_network, make_target

pytestmark = pytest.mark.django_db


def add_results(days_ago: list[float]) -> None:
    network = make_network()
    target = make_target("tcp://db:5432", network)
    now = timezone.now()
    CheckResult.objects.bulk_create(
        CheckResult(
            target=target, network=network, ok=True, answered=True, checked_at=now - timedelta(days=d)
        )
        for d in days_ago
    )
    for d in days_ago:
        checks.rollup_add(
            target_id=target.pk, network_id=network.pk, at=now - timedelta(days=d), ok=True, latency_ms=1.0
        )


@override_settings(CONNECTIVITY_KEEP_RESULTS_DAYS=7)
def test_it_prunes_results_older_than_the_configured_days() -> None:
    add_results([0.1, 6.5, 7.5, 30])

    assert retention.check_results_prune() == 2

    remaining = sorted(
        round((timezone.now() - c).total_seconds() / 86400, 1)
        for c in CheckResult.objects.values_list("checked_at", flat=True)
    )
    assert remaining == [0.1, 6.5]


def test_it_takes_the_days_from_the_beat_entry_over_the_setting() -> None:
    add_results([1.5, 3])
    assert retention.check_results_prune(days=2) == 1


def test_it_prunes_in_batches() -> None:
    add_results([10] * 25)
    assert retention.check_results_prune(days=1, batch=10) == 25
    assert not CheckResult.objects.exists()


def test_it_keeps_rollups_for_the_90_day_uptime_and_prunes_them_after_the_setting() -> None:
    add_results([1, 6, 30, 89, 92])
    retention.check_results_prune(days=1)
    assert HourlyRollup.objects.count() == 4  # the 92-day-old hour went, the 89-day-old stays

    with override_settings(CONNECTIVITY_KEEP_ROLLUPS_DAYS=10):
        retention.check_results_prune(days=1, batch=1)
    assert HourlyRollup.objects.count() == 2


@override_settings(CONNECTIVITY_KEEP_ROLLUPS_DAYS=2)
def test_it_never_keeps_rollups_shorter_than_the_dashboards_7_day_uptime() -> None:
    add_results([1, 6, 30])
    retention.check_results_prune(days=1)
    assert HourlyRollup.objects.count() == 2


def test_it_refuses_to_prune_everything() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        retention.check_results_prune(days=0)
