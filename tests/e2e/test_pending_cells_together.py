"""In a real browser: a key list full of pending rows asks for all of them in one request a
tick, not one each, and a row whose work ends leaves the next request. Keys wait on a server
that refuses every connection (port 9) and no worker runs, so every row stays pending."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from integrations.litellm import keys
from integrations.litellm.models import LiteLLMServer
from portal.accounts.models import User
from tests.e2e.conftest import admin_log_in

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PENDING = 12


@pytest.fixture
def dead_server(transactional_db: None) -> LiteLLMServer:
    row = LiteLLMServer(name="litellm-gone", base_url="http://127.0.0.1:9", network="backend-dev")
    row.master_key = "sk-portal-test-master-0123456789abcdef"
    row.save()
    return row


def test_a_page_of_pending_rows_costs_one_request_a_tick(page: Any, dead_server: LiteLLMServer) -> None:
    made = [keys.key_create(server=dead_server, alias=f"team-{i:02d}", enqueue=False) for i in range(PENDING)]
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")

    asked: list[list[int]] = []
    pending_path = reverse("admin:litellm_virtualkey_pending_many")

    def seen(request: Any) -> None:
        url = urlparse(request.url)
        if url.path.endswith("/pending/"):
            assert url.path == pending_path, url.path  # no cell polls a key of its own
            asked.append([int(pk) for pk in parse_qs(url.query)["ids"][0].split(",")])

    page.on("request", seen)
    page.goto("/admin/litellm/virtualkey/")
    assert page.locator(".portal-refresh").count() == PENDING
    started = time.monotonic()
    # One creation given up while the page is open: the first tick still asks for it (the
    # page drew it), hears "removed from the portal", and the next tick leaves it out.
    gone = made[0]
    keys.key_cancel_pending(key=gone)
    while len(asked) < 2:
        assert time.monotonic() - started < 15, asked
        page.wait_for_timeout(100)
    ticks = (time.monotonic() - started) / 3
    assert len(asked) <= ticks + 1  # one request a tick for twelve cells, not twelve
    assert sorted(asked[0]) == sorted(key.pk for key in made)
    assert gone.pk not in asked[1] and len(asked[1]) == PENDING - 1
    cell = page.locator(f'.portal-refresh[data-refresh-id="{gone.pk}"]')
    assert "removed from the portal" in cell.inner_text()
    waiting = page.locator(f'.portal-refresh[data-refresh-id="{made[1].pk}"] [data-done]')
    assert waiting.inner_text() == "create pending"  # as first drawn: the row keeps its height
    assert "no worker heard" in (waiting.get_attribute("title") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pending-together-one-gone.png"), full_page=True)
