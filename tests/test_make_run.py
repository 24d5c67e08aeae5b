"""`make run` as a newcomer meets it: the real command, its own var dir, a free PORTAL_PORT."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests

from tests.makerun import ADMIN_EMAIL, ADMIN_PASSWORD, MakeRun

pytestmark = pytest.mark.slow
CONTENT_TYPES = {"stylesheet": "text/css", "script": "text/javascript"}


class _Assets(HTMLParser):
    """Every stylesheet and script a page links."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and (a.get("rel") or "") == "stylesheet" and a.get("href"):
            self.found.append(("stylesheet", str(a["href"])))
        if tag == "script" and a.get("src"):
            self.found.append(("script", str(a["src"])))


def linked_assets(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.found


def assert_every_asset_served(session: requests.Session, page_url: str) -> list[tuple[str, str]]:
    page = session.get(page_url, timeout=10)
    assert page.status_code == 200, page.text[:500]
    assets = linked_assets(page.text)
    for kind, href in assets:
        answer = session.get(urljoin(page_url, href), timeout=10)
        assert answer.status_code == 200, f"{href}: {answer.status_code}"
        assert answer.headers["Content-Type"].split(";")[0] == CONTENT_TYPES[kind], href
        assert answer.content, href
    return assets


def test_the_admin_login_page_gets_every_stylesheet_and_script(make_run: MakeRun) -> None:
    assets = assert_every_asset_served(requests.Session(), f"{make_run.url}/admin/login/")
    stylesheets = [href for kind, href in assets if kind == "stylesheet"]
    assert any(href.endswith("admin/css/base.css") for href in stylesheets), assets
    assert any(href.endswith("admin/css/login.css") for href in stylesheets), assets


def test_the_admin_index_gets_every_stylesheet_and_script(make_run: MakeRun) -> None:
    session = requests.Session()
    login = session.get(f"{make_run.url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    assert token, login.text[:500]
    answer = session.post(
        f"{make_run.url}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token.group(1), "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers={"Referer": f"{make_run.url}/admin/login/"},
        timeout=10,
    )
    assert answer.url == f"{make_run.url}/admin/", answer.text[:500]
    assets = assert_every_asset_served(session, f"{make_run.url}/admin/")
    assert any(kind == "script" for kind, _ in assets), assets


def test_a_missing_static_file_is_a_404_not_a_500(make_run: MakeRun) -> None:
    assert requests.get(f"{make_run.url}/static/admin/css/no-such.css", timeout=10).status_code == 404
