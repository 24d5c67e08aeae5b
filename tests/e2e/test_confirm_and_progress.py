"""In a real browser: a pending key row that refreshes itself until done, the confirmation page
before a block and before a bulk action, and a bulk action's progress page that says no
worker is heard, then follows a worker that starts to the end, all without a reload.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.litellm import key_work, keys
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from portal.core.queues import network_queue_name
from tests.e2e.conftest import admin_log_in
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = pytest.mark.e2e
MASTER = "sk-portal-test-master-0123456789abcdef"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def litellm(transactional_db: None) -> Iterator[LiteLLMServer]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=17)
    sim.start()
    row = LiteLLMServer(name="litellm-dev", base_url=sim.base_url, network="backend-dev")
    row.master_key = MASTER
    row.save()
    yield row
    sim.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"confirm-{name}.png"), full_page=True)


def test_confirm_pages_and_work_in_progress_move_by_themselves(
    page: Any, litellm: LiteLLMServer, redis_url: str
) -> None:
    made = []
    for alias in ("team-search", "team-chat"):
        key = keys.key_create(server=litellm, alias=alias, enqueue=False)
        key_work.key_apply_pending(key_id=key.pk)  # created in the simulator
        made.append(key)
    keys.key_block(key=made[0], enqueue=False)  # a block waiting for a worker
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")

    # 1. The list: the pending row says why it waits, then moves on by itself.
    page.goto("/admin/litellm/virtualkey/")
    cell = page.locator(".portal-refresh").first
    assert "block pending" in cell.inner_text()
    assert "no worker heard" in (cell.locator("[title]").get_attribute("title") or "")
    shot(page, "1-list-pending")
    cell.screenshot(path=str(ARTIFACTS / "confirm-1-cell-pending.png"))
    key_work.key_apply_pending(key_id=made[0].pk)  # a worker did it (here, in the test's process)
    page.wait_for_function(
        "() => document.querySelector('.portal-refresh').innerText.includes('Blocked in LiteLLM')"
    )
    assert page.url.endswith("/admin/litellm/virtualkey/")  # no reload, no navigation
    shot(page, "2-list-done")
    cell.screenshot(path=str(ARTIFACTS / "confirm-2-cell-done.png"))

    # 2. The key page's Block button asks first; "No, take me back" changes nothing.
    page.goto(f"/admin/litellm/virtualkey/{made[1].pk}/change/")
    page.get_by_role("link", name="Block", exact=True).click()
    page.wait_for_url(re.compile(r"/do/block/$"))
    assert page.get_by_text("LiteLLM refuses every request made with these keys").is_visible()
    shot(page, "3-block-confirm")
    page.get_by_role("link", name="No, take me back").click()
    assert VirtualKey.objects.get(pk=made[1].pk).pending_action == ""

    # 3. A bulk action: the confirmation lists both keys, then the progress page follows them.
    page.goto("/admin/litellm/virtualkey/")
    page.locator("#action-toggle").check()
    page.locator('select[name="action"]').select_option("refresh_action")
    page.get_by_role("button", name="Go").click()
    assert page.get_by_role("heading", name="Refresh spend from LiteLLM?").is_visible()
    assert page.get_by_role("link", name="team-chat").is_visible()
    shot(page, "4-bulk-confirm")
    page.get_by_role("button", name="Yes: Refresh spend from LiteLLM").click()
    page.wait_for_url(re.compile(r"/admin/progress/"))
    assert page.get_by_text("waiting for a worker (none heard)").is_visible()
    assert page.get_by_text(
        f"no worker heard on it ever; start one (celery worker -Q {network_queue_name('backend-dev')})"
    ).first.is_visible()
    shot(page, "5-progress-no-worker")
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=[network_queue_name("backend-dev")],
    )
    worker.start()
    try:
        page.locator("#batch-finished").wait_for(timeout=30_000)
    finally:
        worker.stop()
    assert "2 of 2" in page.locator("#batch-done").inner_text()
    assert page.get_by_text("Refreshed: spend 0").count() == 2
    shot(page, "6-progress-finished")
