"""The admin under the real `make run` looks like the Django admin: its own CSS applied."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import admin_log_in
from tests.makerun import ADMIN_EMAIL, ADMIN_PASSWORD, MakeRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def page(browser: Any, make_run: MakeRun) -> Iterator[Any]:
    """A page on `make run` instead of the live test server (kept on failure as a screenshot)."""
    context = browser.new_context(base_url=make_run.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_the_admin_index_is_styled_by_the_admins_own_css(page: Any) -> None:
    admin_log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto("/admin/")
    # admin/css/base.css: `#header { display: flex; ... background: var(--header-bg) }`; a
    # page without it leaves the header a block with a transparent background.
    header = page.locator("#header")
    assert header.evaluate("e => getComputedStyle(e).display") == "flex"
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    # The admin's font stack from base.css, not the browser's default serif.
    assert "sans-serif" in page.locator("body").evaluate("e => getComputedStyle(e).fontFamily")
