"""network_sweep: every due target of a network at once, recorded, states moved, alternatives found."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.connectivity import checks
from portal.connectivity.models import Alert, CheckResult, Expectation, HourlyRollup, State, Target
from portal.models import WorkerHeartbeat
from tests.connectivity.factories import make_network, make_target, placement
from tests.lab_server import LabHTTPServer, start_in_thread

pytestmark = pytest.mark.django_db


@pytest.fixture
def server_on_127_0_0_3() -> Iterator[LabHTTPServer]:
    """A service on another loopback address: reachable there, refused on 127.0.0.2."""
    server = LabHTTPServer(("127.0.0.3", 0), {"/health": (200, "OK")})
    start_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


def test_it_records_one_result_per_due_target_with_its_diagnosis(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    up = make_target(f"http://127.0.0.1:{server.port}/health", network, keyword="OK")
    refused = make_target(f"tcp://127.0.0.1:{refused_port}", network, failure_threshold=1)
    wrong_path = make_target(f"http://127.0.0.1:{server.port}/api/health", network, failure_threshold=1)

    report = checks.network_sweep(network=network, hostname="w1")

    assert (report.checked, report.failed) == (3, 2)
    ok = CheckResult.objects.get(target=up)
    assert ok.ok and ok.answered and ok.http_status == 200 and ok.latency_ms is not None
    assert ok.resolved_addresses == ["127.0.0.1"] and ok.diagnosis == ""
    assert placement(up, network).state == State.UP

    failed = CheckResult.objects.get(target=refused)
    assert not failed.ok and failed.error_kind == "refused"
    assert "127.0.0.1" in failed.diagnosis and failed.suggested_fix  # loopback from a container
    assert placement(refused, network).state == State.DOWN

    not_found = CheckResult.objects.get(target=wrong_path)
    # On loopback the diagnosis first points at 127.0.0.1 from a container (the netns proof
    # shows a 404 on a real network address).
    assert not_found.http_status == 404 and not not_found.ok
    state = placement(wrong_path, network)
    assert state.state == State.DOWN and state.last_error and state.last_fix == not_found.suggested_fix


def test_it_checks_each_target_at_its_own_interval(http_server: Callable[..., LabHTTPServer]) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    every_minute = make_target(f"http://127.0.0.1:{server.port}/health", network, interval_seconds=60)
    every_ten = make_target(f"http://127.0.0.1:{server.port}/health", network, interval_seconds=600)
    now = timezone.now()

    assert checks.network_sweep(network=network, now=now).checked == 2
    assert checks.network_sweep(network=network, now=now + timedelta(seconds=5)).checked == 0
    later = checks.network_sweep(network=network, now=now + timedelta(seconds=61))

    assert [c.target for c in later.checks] == [every_minute.name]
    assert CheckResult.objects.filter(target=every_ten).count() == 1


def test_it_skips_disabled_targets_and_other_networks(http_server: Callable[..., LabHTTPServer]) -> None:
    server = http_server({"/health": (200, "OK")})
    network, other = make_network(), make_network()
    make_target(f"http://127.0.0.1:{server.port}/health", network, enabled=False)
    make_target(f"http://127.0.0.1:{server.port}/health", other)

    assert checks.network_sweep(network=network).checked == 0


def test_it_lasts_about_as_long_as_its_slowest_probe(silent_port: int) -> None:
    network = make_network()
    for _ in range(6):
        make_target(f"http://127.0.0.1:{silent_port}/health", network, timeout_seconds=1.0)

    started = time.monotonic()
    report = checks.network_sweep(network=network)
    elapsed = time.monotonic() - started

    assert report.checked == 6 and report.failed == 6
    assert {r.error_kind for r in CheckResult.objects.filter(network=network)} == {"timeout"}
    # Six one-second timeouts in series would be 6 s; the alternatives add one more round.
    assert elapsed < 3.5, elapsed


def test_it_turns_down_only_after_the_failure_threshold_and_alerts_once_per_change(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target(f"http://127.0.0.1:{refused_port}/health", network, failure_threshold=2)
    state = placement(target, network)

    checks.target_check_now(target=target, network=network)
    state.refresh_from_db()
    assert (state.state, state.consecutive_failures) == (State.UNKNOWN, 1)
    assert not Alert.objects.filter(target=target).exists()

    checks.target_check_now(target=target, network=network)
    checks.target_check_now(target=target, network=network)
    state.refresh_from_db()
    assert (state.state, state.consecutive_failures) == (State.DOWN, 3)
    down_since = state.since
    [down] = Alert.objects.filter(target=target)
    assert down.kind == Alert.Kind.DOWN and f"{target.name} from {network.name} is DOWN" in down.message

    Target.objects.filter(pk=target.pk).update(address=f"http://127.0.0.1:{server.port}/health")
    target.refresh_from_db()
    checks.target_check_now(target=target, network=network)
    state.refresh_from_db()
    assert state.since is not None and down_since is not None and state.since > down_since
    assert state.state == State.UP and state.consecutive_failures == 0
    assert list(Alert.objects.filter(target=target).values_list("kind", flat=True)) == ["up", "down"]


def test_it_does_not_flap_on_a_single_failure(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target(f"http://127.0.0.1:{server.port}/health", network, failure_threshold=2)
    checks.target_check_now(target=target, network=network)

    Target.objects.filter(pk=target.pk).update(address=f"http://127.0.0.1:{refused_port}/health")
    target.refresh_from_db()
    checks.target_check_now(target=target, network=network)

    assert placement(target, network).state == State.UP
    assert not Alert.objects.filter(target=target).exists()


def test_it_finds_the_address_that_answers_from_the_same_network(
    server_on_127_0_0_3: LabHTTPServer,
) -> None:
    network = make_network(alternative_hosts="127.0.0.3")
    target = make_target(f"http://127.0.0.2:{server_on_127_0_0_3.port}/health", network, failure_threshold=1)

    checks.network_sweep(network=network)

    result = CheckResult.objects.get(target=target)
    answered = [a["address"] for a in result.alternatives if a["ok"]]
    assert answered == [f"http://127.0.0.3:{server_on_127_0_0_3.port}/health"]
    assert answered[0] in result.suggested_fix
    assert placement(target, network).last_working_address == answered[0]


def test_it_passes_an_isolation_check_when_nothing_answers(refused_port: int) -> None:
    network = make_network()
    target = make_target(f"tcp://127.0.0.1:{refused_port}", network, expect=Expectation.UNREACHABLE)

    checks.network_sweep(network=network)

    result = CheckResult.objects.get(target=target)
    assert result.ok and not result.answered and result.alternatives == []
    assert placement(target, network).state == State.UP


def test_it_alerts_when_a_network_reaches_what_it_must_not(http_server: Callable[..., LabHTTPServer]) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target(
        f"http://127.0.0.1:{server.port}/health", network, expect=Expectation.UNREACHABLE, failure_threshold=1
    )

    checks.network_sweep(network=network)

    result = CheckResult.objects.get(target=target)
    assert result.answered and not result.ok and result.diagnosis_kind == "not_isolated"
    [alert] = Alert.objects.filter(target=target)
    assert "REACHABLE where it must not be" in alert.message


def test_it_records_a_target_whose_address_cannot_be_probed_instead_of_failing() -> None:
    network = make_network()
    target = make_target("tcp://db:5432", network, failure_threshold=1)
    Target.objects.filter(pk=target.pk).update(address="ftp://files:21")

    report = checks.network_sweep(network=network)

    assert report.failed == 1
    result = CheckResult.objects.get(target=target)
    assert "cannot be probed" in result.diagnosis and "address" in result.suggested_fix


def test_it_leaves_a_heartbeat_for_the_network_queue(http_server: Callable[..., LabHTTPServer]) -> None:
    network = make_network()
    checks.network_sweep(network=network, hostname="worker@dev")
    assert WorkerHeartbeat.objects.get(queue=network.queue).hostname == "worker@dev"


def test_it_folds_each_check_into_its_hourly_rollup(
    http_server: Callable[..., LabHTTPServer], refused_port: int
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network()
    target = make_target(f"http://127.0.0.1:{server.port}/health", network)
    checks.target_check_now(target=target, network=network)
    Target.objects.filter(pk=target.pk).update(address=f"http://127.0.0.1:{refused_port}/health")
    target.refresh_from_db()
    checks.target_check_now(target=target, network=network)

    [rollup] = HourlyRollup.objects.filter(target=target, network=network)
    assert (rollup.checks, rollup.failures, rollup.latency_count) == (2, 1, 1)
    assert rollup.hour.minute == 0 and rollup.latency_sum_ms > 0
