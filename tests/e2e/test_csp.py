"""Item 9 of issue #11, in the browser: every page staff and people use works under the
Content-Security-Policy (scripts and styles from the portal's own files only, nothing inline),
and Chromium reports no violation on any of them (securitypolicyviolation events and console
errors alike), while the pages still do what their scripts are for (the action bar counts the
ticked rows, the reveal page's Copy button)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.e2e.conftest import admin_log_in

pytestmark = pytest.mark.e2e

WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.portalCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watch_csp(page: Any) -> list[str]:
    """Every violation on every page this tab loads from now on (survives navigation)."""
    seen: list[str] = []
    page.expose_function("portalCspViolation", lambda text: seen.append(text))
    page.add_init_script(WATCH)
    page.on(
        "console",
        lambda message: (
            seen.append(f"console: {message.text}")
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
            else None
        ),
    )
    return seen


def test_the_admin_and_the_portal_pages_run_under_the_csp_without_a_violation(
    page: Any, live_server: Any, transactional_db: None
) -> None:
    seen = watch_csp(page)
    ops = User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    server = LiteLLMServer(name="gateway", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = "sk-master-for-the-csp-test-0123456789"
    server.save()
    spent = VirtualKey.objects.create(
        server=server,
        key_alias="team-a",
        status=KeyStatus.ACTIVE,
        max_budget=Decimal("10"),
        spend=Decimal("9"),
        token_hash="a" * 64,
        key_name="sk-...aaaa",
    )
    fresh = VirtualKey(server=server, key_alias="team-b", status=KeyStatus.ACTIVE, reveal_to=ops)
    fresh.token_hash, fresh.key_name, fresh.raw_key = "b" * 64, "sk-...bbbb", "sk-shown-once-" + "b" * 30
    fresh.save()

    admin_log_in(page, "ops@example.com", "a long admin passphrase")
    page.goto("/admin/")
    assert page.get_by_role("heading", name="LiteLLM, LibreChat and connectivity").is_visible()
    # A changelist with actions: ticking a row makes actions.js count it.
    page.goto(reverse("admin:litellm_virtualkey_changelist"))
    page.locator(f'input[name="_selected_action"][value="{spent.pk}"]').check()
    assert page.locator(".action-counter").inner_text().startswith("1 of 2 selected")
    assert page.locator("meter.spend-bar").count() == 1
    page.goto(reverse("admin:litellm_litellmserver_change", args=[server.pk]))
    assert page.get_by_role("button", name="Test connection").is_visible()
    page.goto(reverse("admin:connectivity_dashboard"))
    # The one-time reveal: its Copy button is a static script now, not an onclick attribute.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(reverse("admin:litellm_virtualkey_reveal", args=[fresh.pk]))
    copy = page.get_by_role("button", name="Copy the full key")  # its label stays; its text says
    copy.click()
    page.wait_for_function("b => b.textContent === 'Copied'", arg=copy.element_handle())
    page.context.clear_cookies()

    # The portal's own pages: signup for anyone, /me/ for a person with a LibreChat account.
    page.goto(reverse("accounts:signup"))
    assert page.get_by_role("button").first.is_visible()
    person = User.objects.create_user(
        email="ann@example.com", password="a long person passphrase", name="Ann"
    )
    User.objects.filter(pk=person.pk).update(email_verified_at=timezone.now(), approved_at=timezone.now())
    chat = LibreChatServer.objects.create(
        name="chat", api_url="http://127.0.0.1:9", public_url="https://chat.example.com"
    )
    LibreChatAccount.objects.create(
        person=person, server=chat, email=person.email, name="Ann", status=AccountStatus.READY
    )
    page.goto(reverse("accounts:login"))
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("a long person passphrase")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/me/"))
    assert page.get_by_role("link", name="https://chat.example.com").is_visible()

    assert seen == []
    # And the policy really is there (a page without it would pass the count trivially).
    header = page.request.get(live_server.url + reverse("accounts:signup")).headers["content-security-policy"]
    assert "script-src 'self'" in header and "style-src 'self'" in header and "unsafe-inline" not in header


def test_with_debug_on_the_debug_404_page_is_styled_and_a_normal_page_keeps_the_full_csp(
    page: Any, live_server: Any, transactional_db: None, settings: Any
) -> None:
    # Issue #11 item 2 (debug pages and the CSP): only Django's own technical pages go without
    # the policy (portal/csp.py); the rule itself is tested over HTTP in
    # tests/security/test_attacks_hosts_more.py.
    from csp.utils import build_policy

    seen = watch_csp(page)
    settings.DEBUG = True  # the embedded default

    debug_404 = page.goto("/no-such-page/")
    assert debug_404 is not None and debug_404.status == 404
    assert "content-security-policy" not in debug_404.headers
    assert page.get_by_text("DEBUG = True").first.is_visible()
    # technical_404.html's inline <style>: a grey page (an unstyled one is transparent).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(238, 238, 238)"

    signup = page.goto(reverse("accounts:signup"))
    assert signup is not None and signup.status == 200
    assert signup.headers["content-security-policy"] == build_policy()
    assert page.get_by_role("button").first.is_visible()
    assert seen == []
