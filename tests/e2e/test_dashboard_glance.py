"""The dashboard read at a glance in a real browser at 1366 px: a down target's diagnosis in one
line with its fix one click away, a muted target saying so, a certificate's days left; the grid
fits the screen. Screenshots are kept in test-artifacts/ to be looked at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.accounts.models import User
from portal.connectivity import checks
from portal.connectivity.models import MuteWindow, TargetNetwork
from tests.connectivity.factories import make_network, make_target
from tests.e2e.conftest import ARTIFACTS, admin_log_in

pytestmark = pytest.mark.e2e


def test_the_dashboard_reads_at_a_glance_at_1366_px(
    page: Any, transactional_db: None, unused_tcp_port: int
) -> None:
    backend, frontend = make_network("lab-back"), make_network("lab-front")
    down = make_target(
        f"tcp://127.0.0.1:{unused_tcp_port}", backend, frontend, name="refused-port", failure_threshold=1
    )
    muted = make_target(
        f"tcp://127.0.0.1:{unused_tcp_port}", backend, name="in-maintenance", failure_threshold=1
    )
    now = timezone.now()
    MuteWindow.objects.create(
        target=muted, starts_at=now, ends_at=now + timedelta(hours=2), reason="DB upgrade"
    )
    checks.network_sweep(network=backend, hostname="celery@lab")
    checks.network_sweep(network=frontend, hostname="celery@lab")
    TargetNetwork.objects.filter(target=down, network=backend).update(last_tls_days_left=10)
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")
    page.set_viewport_size({"width": 1366, "height": 768})

    page.goto("/admin/connectivity/target/dashboard/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-glance-1366.png"), full_page=True)

    row = page.get_by_role("row").filter(has_text="refused-port")
    assert row.locator(".conn-state.conn-down").count() == 2
    assert not row.locator(".conn-fix").first.is_visible()  # one line until asked
    row.locator("summary").first.click()
    assert row.locator(".conn-fix").first.inner_text().startswith("Fix:")
    assert "certificate: 10 days left" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-glance-1366-open.png"), full_page=True)
    assert "muted until" in page.get_by_role("row").filter(has_text="in-maintenance").inner_text()
    assert "Muted: in-maintenance until" in page.locator("#content-main").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 1366, f"the dashboard is {overflow} px wide"
