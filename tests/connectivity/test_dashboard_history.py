"""The dashboard's heartbeat bar (the last checks on the placement row, one query for the grid)
and a target's history (uptime 24 h / 7 d / 30 d / 90 d, latency per network) on its page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.connectivity import checks
from portal.connectivity.heartbeat import HEARTBEAT_CHECKS, heartbeat_append, heartbeat_of
from portal.connectivity.history import target_history
from portal.connectivity.models import CheckResult, HourlyRollup, Target, TargetNetwork
from tests.connectivity.factories import make_network, make_target, placement
from tests.lab_server import LabHTTPServer

pytestmark = pytest.mark.django_db


def sweep_outcomes(target: Target, network: object, outcomes: str, up: str, down: str) -> None:
    """One real check per letter (u: the server answers, d: the port refuses)."""
    for letter in outcomes:
        Target.objects.filter(pk=target.pk).update(address=up if letter == "u" else down)
        TargetNetwork.objects.filter(target=target).update(next_check_at=None)
        checks.network_sweep(network=network)  # type: ignore[arg-type]


def test_it_keeps_the_last_checks_on_the_placement_newest_last(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target("tcp://127.0.0.1:1", network, failure_threshold=1)
    up, down = f"http://127.0.0.1:{server.port}/health", f"tcp://127.0.0.1:{refused_port}"

    sweep_outcomes(target, network, "uuddu" + "u" * HEARTBEAT_CHECKS + "du", up, down)

    recent = placement(target, network).recent_checks
    assert len(recent) == HEARTBEAT_CHECKS
    assert [ok for _, ok, _ in recent[-3:]] == [1, 0, 1]
    assert recent[-1][0] >= recent[0][0] and recent[-1][2] is not None and recent[-2][2] is None
    bar = heartbeat_of(recent)
    assert bar.label == f"last {HEARTBEAT_CHECKS} checks: {HEARTBEAT_CHECKS - 1} up, 1 down"
    assert [b.outcome for b in bar.beats[-3:]] == ["up", "down", "up"]
    assert bar.beats[-2].title.endswith("UTC: down")


def test_a_check_recorded_after_a_newer_one_takes_its_place_by_time(
    http_server: Callable[..., LabHTTPServer],
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target(f"http://127.0.0.1:{server.port}/health", network)
    start = timezone.now()
    # The check stamped at minute 1 is recorded last, as a sweep's is behind a "Check now".
    for minute in (0, 2, 1):
        with mock.patch("django.utils.timezone.now", return_value=start + timedelta(minutes=minute)):
            checks.target_check_now(target=target, network=network)

    recent = placement(target, network).recent_checks
    stored = (
        CheckResult.objects.filter(target=target).order_by("checked_at").values_list("checked_at", flat=True)
    )
    assert [at for at, _, _ in recent] == [int(at.timestamp()) for at in stored]
    assert len(recent) == 3


def test_a_malformed_stored_entry_never_stops_the_check_writer() -> None:
    at = timezone.now()
    recent = heartbeat_append(
        [["x", 1], "junk", [None, 1, 2.0], [1_700_000_000, 1, 4.2]], at=at, ok=False, latency_ms=None
    )
    assert recent == [[1_700_000_000, 1, 4.2], [int(at.timestamp()), 0, None]]


def test_a_young_placement_pads_its_bar_on_the_left() -> None:
    bar = heartbeat_of([[1_700_000_000, 1, 4.2], [1_700_000_060, 0, None]])
    assert [b.outcome for b in bar.beats[:-2]] == ["none"] * (HEARTBEAT_CHECKS - 2)
    assert bar.beats[-2].title == "2023-11-14 22:13:20 UTC: up, 4.2 ms"
    assert bar.label == "last 2 checks: 1 up, 1 down"
    assert heartbeat_of([]).label == "no checks yet" and heartbeat_of(None).beats[0].outcome == "none"


def test_the_dashboard_draws_every_bar_in_the_same_queries_whatever_the_grid(
    admin_client: Client, refused_port: int
) -> None:
    network = make_network("lab-beats")
    first = make_target(f"tcp://127.0.0.1:{refused_port}", network, name="beats one", failure_threshold=1)
    checks.network_sweep(network=network)

    def render() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()
        return len(captured.captured_queries), page

    queries, page = render()
    row = page.split("beats one")[1]
    assert 'aria-label="last 1 checks: 0 up, 1 down"' in row
    assert row.count("conn-beat conn-beat-down") == 1
    assert row.count("conn-beat conn-beat-none") == HEARTBEAT_CHECKS - 1

    for i in range(5):
        make_target(f"tcp://127.0.0.1:{refused_port}", network, name=f"beats more {i}", failure_threshold=1)
    TargetNetwork.objects.update(next_check_at=None)
    checks.network_sweep(network=network)
    more_queries, page = render()
    assert more_queries == queries
    assert page.count('aria-label="last 1 checks: 0 up, 1 down"') == 5
    assert 'aria-label="last 2 checks: 0 up, 2 down"' in page.split("beats one")[1]
    assert first.pk and CheckResult.objects.count() == 7


def test_the_migration_fills_each_bar_from_the_stored_history() -> None:
    import importlib

    from django.apps import apps

    network = make_network()
    target = make_target("tcp://db:5432", network)
    now = timezone.now()
    CheckResult.objects.bulk_create(
        CheckResult(
            target=target,
            network=network,
            ok=i % 3 != 0,
            answered=i % 3 != 0,
            latency_ms=float(i),
            checked_at=now - timedelta(minutes=40 - i),
        )
        for i in range(40)
    )
    migration = importlib.import_module("portal.connectivity.migrations.0012_heartbeat_recent_checks")
    migration.backfill(apps, None)

    recent = placement(target, network).recent_checks
    assert len(recent) == HEARTBEAT_CHECKS
    assert recent[-1][1:] == [0, None] and recent[-2][1:] == [1, 38.0]  # 39 failed, 38 ok
    assert recent[0][0] < recent[-1][0]


def add_hours(target: Target, network: object, hours_ago: range, *, failures: int, latency: float) -> None:
    now = timezone.now()
    for h in hours_ago:
        at = now - timedelta(hours=h)
        for i in range(4):
            checks.rollup_add(
                target_id=target.pk,
                network_id=network.pk,  # type: ignore[attr-defined]
                at=at,
                ok=i >= failures,
                latency_ms=latency + h % 5 if i >= failures else None,
            )


def test_the_history_gives_uptime_over_each_window_and_latency_per_network() -> None:
    dev, prod = make_network("lab-hist-dev"), make_network("lab-hist-prod")
    target = make_target("tcp://db:5432", dev, prod, name="hist db")
    Target.objects.filter(pk=target.pk).update(created_at=timezone.now() - timedelta(days=120))
    target.refresh_from_db()
    add_hours(target, dev, range(0, 24), failures=0, latency=10)  # a perfect last day
    add_hours(target, dev, range(24, 48), failures=1, latency=10)  # one check in four failed
    add_hours(target, dev, range(24 * 40, 24 * 40 + 10), failures=4, latency=0)  # 40 days ago: down
    add_hours(target, prod, range(0, 5), failures=0, latency=30)

    with CaptureQueriesContext(connection) as captured:
        history = target_history(target=target)
    assert len(captured.captured_queries) == 3

    assert history.windows == ["24 h", "7 d", "30 d", "90 d"]
    by_name = {n.name: n for n in history.networks}
    assert [(u.label, u.percent, u.checks) for u in by_name["lab-hist-dev"].uptimes] == [
        ("24 h", 100.0, 96),
        ("7 d", 87.5, 192),
        ("30 d", 87.5, 192),
        ("90 d", 192 * 87.5 / 232, 232),
    ]
    assert by_name["lab-hist-prod"].uptimes[3].checks == 20
    assert by_name["lab-hist-dev"].latency_max_ms == 14.0 and by_name["lab-hist-prod"].latency_avg_ms == 32.0
    assert len(by_name["lab-hist-dev"].failed_x) == 24 and not by_name["lab-hist-prod"].failed_x
    assert history.top_ms == 50  # the highest hourly average is 34 ms
    assert "lab-hist-prod: hourly average 32.0 ms, at most 34.0 ms, no failures" in history.summary


def test_a_removed_placements_rollups_never_set_the_charts_scale() -> None:
    dev, gone = make_network("lab-hist-kept"), make_network("lab-hist-gone")
    target = make_target("tcp://db:5432", dev, gone, name="hist moved")
    add_hours(target, dev, range(0, 5), failures=0, latency=10)
    add_hours(target, gone, range(0, 5), failures=0, latency=900)  # before it was removed there
    placement(target, gone).delete()

    history = target_history(target=target)

    assert [n.name for n in history.networks] == ["lab-hist-kept"]
    assert history.top_ms == 20  # from dev's 10-14 ms, not the removed network's 900 ms


def test_a_target_younger_than_a_window_says_since_and_shows_no_longer_window() -> None:
    network = make_network()
    target = make_target("tcp://db:5432", network)
    Target.objects.filter(pk=target.pk).update(created_at=timezone.now() - timedelta(days=2))
    target.refresh_from_db()
    add_hours(target, network, range(0, 40), failures=0, latency=3)

    uptimes = target_history(target=target).networks[0].uptimes

    assert [u.label for u in uptimes] == ["24 h", f"since {target.created_at:%Y-%m-%d %H:%M}"]
    assert uptimes[1].checks == 160


def test_the_targets_page_shows_its_history_with_a_text_alternative(admin_client: Client) -> None:
    network = make_network("lab-page")
    target = make_target("tcp://db:5432", network, name="paged db")
    Target.objects.filter(pk=target.pk).update(created_at=timezone.now() - timedelta(days=3))
    target.refresh_from_db()
    add_hours(target, network, range(0, 30), failures=1, latency=8)
    url = reverse("admin:connectivity_target_change", args=[target.pk])
    admin_client.get(url)  # the first page of a session saves it: not counted

    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(url).content.decode()
    small = len(captured.captured_queries)

    history = page.split('id="conn-history"')[1]
    assert "<polyline" in history and '<th scope="col">24 h</th>' in history
    assert "<strong>75.00 %</strong>" in history  # one check in four failed
    assert 'role="img" aria-label="Latency over the last 7 days. lab-page: hourly average' in history
    assert "90 d" not in history and "30 d" not in history  # a target made 3 days ago
    assert f'<th scope="col">since {target.created_at:%Y-%m-%d %H:%M}</th>' in history
    add_hours(target, network, range(30, 24 * 80, 7), failures=0, latency=8)
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(url).status_code == 200
    assert len(captured.captured_queries) == small
    assert HourlyRollup.objects.filter(target=target).count() > 250
    assert admin_client.get(reverse("admin:connectivity_target_add")).status_code == 200


def test_it_offers_no_window_longer_than_the_rollups_are_kept(settings: object) -> None:
    settings.CONNECTIVITY_KEEP_ROLLUPS_DAYS = 30  # type: ignore[attr-defined]
    network = make_network()
    target = make_target("tcp://db:5432", network)
    Target.objects.filter(pk=target.pk).update(created_at=timezone.now() - timedelta(days=200))
    target.refresh_from_db()

    history = target_history(target=target)

    assert history.windows == ["24 h", "7 d", "30 d"] and history.keep_days == 30
    assert history.networks[0].uptimes[0].percent is None  # nothing checked: n/a, never 100 %
