"""The connectivity dashboard shows a target that is down, with its fix.

The target is a loopback port nobody listens on; the network is "on the host" and guesses no
alternative names, so the sweep sends no DNS query off the machine."""

from __future__ import annotations

from typing import Any

import pytest

from portal.accounts.models import User
from portal.connectivity import checks
from tests.connectivity.factories import make_network, make_target
from tests.e2e.conftest import admin_log_in

pytestmark = pytest.mark.e2e


def test_it_shows_a_down_target_with_its_fix(page: Any, transactional_db: None, unused_tcp_port: int) -> None:
    network = make_network("lab-e2e", worker_location="host", guess_alternatives=False)
    make_target(f"tcp://127.0.0.1:{unused_tcp_port}", network, name="refused-port", failure_threshold=1)
    report = checks.network_sweep(network=network)
    assert report is not None
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")

    page.goto("/admin/connectivity/target/dashboard/")
    row = page.get_by_role("row").filter(has_text="refused-port")
    assert row.locator(".conn-state.conn-down").inner_text().strip() == "down"
    row.locator("summary").click()  # the diagnosis is one line; its fix one click away
    fix = row.locator(".conn-fix").inner_text()
    assert fix.startswith("Fix:") and len(fix) > len("Fix: ") + 10
    assert "Nothing on this host listens on" in row.locator("summary.conn-error").inner_text()
