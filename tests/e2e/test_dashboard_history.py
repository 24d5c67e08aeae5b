"""The heartbeat bar, the dashboard's self-refresh and a target's history in a real browser at
1366 px. Screenshots are kept in test-artifacts/ to be looked at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.accounts.models import User
from portal.connectivity import checks
from portal.connectivity.heartbeat import HEARTBEAT_CHECKS
from portal.connectivity.models import HourlyRollup, MuteWindow, Network, Target, TargetNetwork
from tests.connectivity.factories import make_network, make_target
from tests.e2e.conftest import ARTIFACTS, admin_log_in
from tests.lab_server import LabHTTPServer, start_in_thread

pytestmark = pytest.mark.e2e


def sweep(network: Network, target: Target, address: str, times: int) -> None:
    for _ in range(times):
        Target.objects.filter(pk=target.pk).update(address=address)
        TargetNetwork.objects.filter(target=target).update(next_check_at=None)
        checks.network_sweep(network=network, hostname="celery@lab")


def rollups(target: Target, network: Network, *, days: int, latency: float, failing_hours: set[int]) -> None:
    """Past hours as the check writer leaves them, two checks each (the current hour holds the
    real checks above)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    HourlyRollup.objects.bulk_create(
        HourlyRollup(
            target=target,
            network=network,
            hour=hour - timedelta(hours=h),
            checks=2,
            failures=1 if h in failing_hours else 0,
            latency_sum_ms=(latency + (h * 7) % 11) * (1 if h in failing_hours else 2),
            latency_count=1 if h in failing_hours else 2,
        )
        for h in range(1, days * 24)
    )


def test_heartbeats_refresh_and_history_at_1366_px(
    page: Any, transactional_db: None, unused_tcp_port: int
) -> None:
    server = LabHTTPServer(("127.0.0.1", 0), {"/health": (200, "OK")})
    start_in_thread(server)
    up, down = f"http://127.0.0.1:{server.port}/health", f"tcp://127.0.0.1:{unused_tcp_port}"
    backend, frontend = make_network("lab-back"), make_network("lab-front")
    flappy = make_target(up, backend, frontend, name="flappy-api", failure_threshold=1)
    steady = make_target(up, backend, frontend, name="steady-web", failure_threshold=1)
    muted = make_target(up, backend, name="in-maintenance", failure_threshold=1)
    MuteWindow.objects.create(
        target=muted, starts_at=timezone.now(), ends_at=timezone.now() + timedelta(hours=2), reason="upgrade"
    )
    for network in (backend, frontend):
        sweep(network, flappy, up, 16)
        sweep(network, flappy, down, 3)
        sweep(network, flappy, up, 5)
    TargetNetwork.objects.filter(target=steady).update(last_tls_days_left=21)
    Target.objects.filter(pk=flappy.pk).update(created_at=timezone.now() - timedelta(days=100))
    rollups(flappy, backend, days=8, latency=12, failing_hours={5, 6, 50, 120})
    rollups(flappy, frontend, days=8, latency=30, failing_hours={5, 6})

    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.clock.install()  # the refresh timer runs when the test says, not after 30 real seconds
    page.goto("/admin/connectivity/target/dashboard/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-heartbeat-1366.png"), full_page=True)

    row = page.get_by_role("row").filter(has_text="flappy-api")
    bars = row.locator(".conn-beats").first
    assert bars.get_attribute("aria-label") == f"last {HEARTBEAT_CHECKS} checks: 21 up, 3 down"
    assert bars.locator(".conn-beat").count() == HEARTBEAT_CHECKS
    outcomes = bars.locator(".conn-beat").evaluate_all("els => els.map(e => e.className.split('-').pop())")
    assert outcomes[-8:] == ["down"] * 3 + ["up"] * 5  # newest right
    assert "certificate: 21 days left" in page.get_by_role("row").filter(has_text="steady-web").inner_text()
    # The muted chip stays on one line (it wrapped at 1366 px).
    mute = page.locator(".conn-mute").first.bounding_box()
    state = (
        page.get_by_role("row").filter(has_text="in-maintenance").locator(".conn-state").first.bounding_box()
    )
    assert mute["height"] <= state["height"] + 1, "the muted chip wraps"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    # A state change appears without a reload: the grid is fetched and swapped in.
    page.evaluate("window.notReloaded = true")
    sweep(backend, steady, down, 1)
    page.clock.run_for(31_000)
    steady_row = page.get_by_role("row").filter(has_text="steady-web")
    steady_row.locator(".conn-state.conn-down").wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert (
        steady_row.locator(".conn-beats").first.get_attribute("aria-label") == "last 2 checks: 1 up, 1 down"
    )
    page.screenshot(path=str(ARTIFACTS / "dashboard-heartbeat-refreshed-1366.png"), full_page=True)

    page.get_by_role("link", name="flappy-api").click()
    history = page.locator("#conn-history")
    history.wait_for()
    page.screenshot(path=str(ARTIFACTS / "target-history-1366.png"), full_page=False)
    table = history.locator("table").inner_text()
    headings = history.locator("thead th").all_text_contents()
    assert headings[1:5] == ["24 h", "7 d", "30 d", "90 d"]
    assert "lab-back" in table and "lab-front" in table
    chart = history.locator("svg.conn-latency")
    assert chart.locator("polyline").count() >= 2
    assert "lab-front: hourly average" in (chart.get_attribute("aria-label") or "")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    server.shutdown()
    server.server_close()
