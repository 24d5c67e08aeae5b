"""The alert pages in a real browser at 1366 px: the alerts list saying which were not sent and
why, a channel's "Send a test alert" through the real worker to a real webhook, a maintenance
window (and one refused), the check-result list. Nothing wider than the screen; screenshots in
test-artifacts/ to be looked at. One browser page walks them all (one portal, one worker)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.accounts.models import User
from portal.connectivity import checks
from portal.connectivity.models import AlertChannel, MuteWindow
from tests.connectivity.factories import make_network, make_target
from tests.e2e.conftest import ARTIFACTS, admin_log_in
from tests.webhook_listener import WebhookReceiver

pytestmark = pytest.mark.e2e

WIDTH = 1366


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    # The admin's list scrolls inside its own box: a table wider than that box overflows too.
    inner = page.evaluate(
        "Array.from(document.querySelectorAll('.results, #content-main'))"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className || e.id)"
    )
    assert not inner, f"{name}: wider than its box: {inner}"
    assert width <= WIDTH, f"{name} is {width} px wide"


def test_the_alert_pages_at_1366_px(page: Any, e2e_worker: Any, unused_tcp_port: int) -> None:
    hook = WebhookReceiver()
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    try:
        walk(page, hook, unused_tcp_port)
    finally:
        hook.shutdown()
        hook.server_close()


def walk(page: Any, hook: WebhookReceiver, refused_port: int) -> None:
    channel = AlertChannel.objects.create(name="ops hook", kind="webhook", webhook_url=hook.url)
    AlertChannel.objects.create(name="ops mail", kind="email", email_to="ops@example.com, oncall@example.com")
    backend, frontend = make_network("lab-back"), make_network("lab-front")
    refused = f"http://127.0.0.1:{refused_port}/health"
    make_target(refused, backend, frontend, name="lab-db", failure_threshold=1)
    muted = make_target(refused, backend, name="lab-cache-in-maintenance", failure_threshold=1)
    now = timezone.now()
    MuteWindow.objects.create(
        target=muted,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=2),
        reason="CHG-1234 upgrade",
    )
    for network in (backend, frontend):  # one worker sees both: lab-db's second DOWN is not sent
        checks.network_sweep(network=network, hostname="celery@laptop")
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")
    page.set_viewport_size({"width": WIDTH, "height": 768})

    page.goto("/admin/connectivity/alert/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert "lab-cache-in-maintenance is muted until" in rows.filter(has_text="lab-cache").inner_text()
    assert "(CHG-1234 upgrade)" in rows.filter(has_text="lab-cache").inner_text()
    assert "served by the same worker" not in page.content()  # that wording is the workers' check
    assert (
        page.locator(".conn-not-sent").filter(has_text="seen by the same worker (celery@laptop)").count() == 1
    )
    shot(page, "alerts-list-1366")

    # The worker delivers lab-db's DOWN to the hook (once); then the test is one post more.
    deadline = time.monotonic() + 20
    while not hook.posts:
        assert time.monotonic() < deadline, "the DOWN alert never reached the webhook"
        time.sleep(0.1)
    page.goto(f"/admin/connectivity/alertchannel/{channel.pk}/change/")
    page.get_by_role("button", name="Send a test alert").click()
    page.wait_for_url(f"**/alertchannel/{channel.pk}/change/")
    assert "A test alert was posted to ops hook's webhook." in page.locator(".messagelist").inner_text()
    assert sorted(posted["kind"] for _path, posted in hook.posts) == ["down", "test"]
    assert hook.url not in page.content()  # the URL is the credential: never shown
    shot(page, "alert-channel-test-1366")

    page.goto("/admin/connectivity/mutewindow/add/")
    page.locator("#id_network").select_option(label="lab-front")
    page.locator("#id_starts_at_0").fill("2026-12-02")
    page.locator("#id_starts_at_1").fill("14:00:00")
    page.locator("#id_ends_at_0").fill("2026-12-02")
    page.locator("#id_ends_at_1").fill("13:00:00")
    page.locator("#id_reason").fill("network maintenance")
    page.get_by_role("button", name="Save", exact=True).click()
    assert "The window ends before it starts" in page.locator(".errorlist").inner_text()
    shot(page, "mute-window-refused-1366")
    page.goto("/admin/connectivity/mutewindow/")
    assert "lab-cache-in-maintenance" in page.locator("#result_list").inner_text()
    assert page.locator("#result_list tbody tr").count() == 1  # the refused one was not saved
    shot(page, "mute-windows-1366")

    page.goto("/admin/connectivity/checkresult/")
    assert page.locator("#result_list tbody tr").count() == 3
    shot(page, "check-results-1366")
    page.goto(f"/admin/connectivity/checkresult/?network__id__exact={backend.pk}&ok__exact=0")
    assert page.locator("#result_list tbody tr").count() == 2
    shot(page, "check-results-failed-on-network-1366")
