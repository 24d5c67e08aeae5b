"""The admin's lists fit a 1366 px screen and the copy buttons copy, in a real browser.

Every registered changelist is opened at 1366 px with rows as long as real ones (a key with an
alias, an owner and a rotation in its grace period; a person with a long address), and the page
must not scroll sideways. The copy buttons (a revealed key, the librechat.yaml block, the
LibreChat password on /me/) are clicked with clipboard permission granted, and what lands on
the clipboard is read back. Screenshots go to test-artifacts/ to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from integrations.librechat.models import LibreChatAccount, LibreChatServer
from integrations.litellm.models import KeyPlan, LiteLLMModel, LiteLLMServer, VirtualKey
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import User
from portal.connectivity.models import CheckResult, Network, Target
from tests.e2e.conftest import ARTIFACTS, admin_log_in

pytestmark = pytest.mark.e2e

WIDTH = 1366
PASSWORD = "a long admin passphrase"
NOT_OURS = {"django_celery_beat", "auth"}


@pytest.fixture(scope="module")
def wide_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """One browser context for the module, 1366 px wide, allowed to use the clipboard."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": WIDTH, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def long_rows() -> User:
    now = timezone.now()
    staff = User.objects.create_superuser(email="operator@example.com", password=PASSWORD, name="Operator")
    server = LiteLLMServer.objects.create(
        name="litellm-production",
        base_url="http://litellm:4000",
        master_key="sk-master",
        litellm_version="1.55.3",
    )
    plan = KeyPlan.objects.create(name="Standard", tpm_limit=100000, rpm_limit=60, max_budget=Decimal("25"))
    for n in range(3):
        VirtualKey.objects.create(
            server=server,
            key_alias=f"research-team-shared-notebook-key-{n}",
            owner=f"someone.with.a.long.name{n}@research.example.org",
            key_name="sk-...ab12",
            status="active",
            blocked=n == 1,
            spend=Decimal("12.5"),
            max_budget=Decimal("25"),
            expires=now + timedelta(days=30),
            last_used_at=now - timedelta(hours=n),
            rotation_old_hash="b" * 64 if n == 2 else "",
            rotation_old_name="sk-...cd34" if n == 2 else "",
            rotation_step="grace" if n == 2 else "",
            rotation_retire_at=now + timedelta(days=2) if n == 2 else None,
            pending_action="rotate" if n == 0 else "",
        )
    LiteLLMModel.objects.create(
        server=server, model_name="llama3.1-70b-instruct", provider_model="ollama/llama3.1:70b"
    )
    chat = LibreChatServer.objects.create(
        name="librechat-production",
        api_url="http://librechat-api:3080",
        public_url="https://chat.example.com",
    )
    pairing = Pairing.objects.create(librechat_server=chat, litellm_server=server, default_plan=plan)
    for n in range(3):
        person = User.objects.create_user(
            email=f"firstname.lastname-{n}@a-long-department-name.example.org",
            password="a long passphrase 1",
            name="Firstname Middlename Lastname",
            email_verified_at=now,
            approved_at=now,
        )
        LibreChatAccount.objects.create(person=person, server=chat, email=person.email, name=person.name)
        PersonalKey.objects.create(
            person=person, pairing=pairing, plan=plan, last_error="LiteLLM timed out" * 3
        )
    network = Network.objects.first()
    target = Target.objects.first()
    assert network is not None and target is not None
    CheckResult.objects.create(
        target=target,
        network=network,
        ok=False,
        answered=False,
        checked_at=now,
        diagnosis="No such name " * 20,
    )
    return staff


# Django's admin puts the table in a box that scrolls sideways on its own (.results has
# overflow-x: auto), so the page's width alone would hide a table wider than the screen.
MEASURE = """() => {
  const results = document.querySelector('#changelist .results');
  const table = results ? results.scrollWidth - results.clientWidth : 0;
  return Math.max(document.documentElement.scrollWidth, window.innerWidth + table);
}"""


def changelists() -> list[str]:
    return [
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        for m in admin.site._registry
        if m._meta.app_label not in NOT_OURS
    ]


def test_every_list_fits_1366_px(wide_page: Any, transactional_db: None) -> None:
    long_rows()
    admin_log_in(wide_page, "operator@example.com", PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    too_wide = {}
    for url in changelists():
        wide_page.goto(url)
        width = wide_page.evaluate(MEASURE)
        if width > WIDTH or url in ("/admin/litellm/virtualkey/", "/admin/accounts/user/"):
            name = url.strip("/").replace("/", "-")
            wide_page.screenshot(path=str(ARTIFACTS / f"words-{name}-1366.png"), full_page=True)
        if width > WIDTH:
            too_wide[url] = width
    assert not too_wide, f"lists wider than {WIDTH} px: {too_wide}"


def click_copy(page: Any, name: str) -> str:
    """Click the copy button called `name`, see it say "Copied", return the clipboard."""
    button = page.get_by_role("button", name=name)
    button.click()
    page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle())
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_the_copy_buttons_copy(wide_page: Any, transactional_db: None, live_server: Any) -> None:
    staff = long_rows()
    admin_log_in(wide_page, "operator@example.com", PASSWORD)
    key = VirtualKey.objects.filter(blocked=False, rotation_step="").first()
    assert key is not None
    VirtualKey.objects.filter(pk=key.pk).update(pending_action="", reveal_to=staff)
    key.raw_key = "sk-copy-me-0123456789abcdef"
    key.save(update_fields=["raw_key"])

    wide_page.goto(reverse("admin:litellm_virtualkey_reveal", args=[key.pk]))
    assert click_copy(wide_page, "Copy the full key") == "sk-copy-me-0123456789abcdef"
    wide_page.screenshot(path=str(ARTIFACTS / "words-copy-key-copied.png"))

    pairing = Pairing.objects.get()
    wide_page.goto(reverse("admin:access_pairing_change", args=[pairing.pk]))
    copied = click_copy(wide_page, "Copy the librechat.yaml block")
    block = str(wide_page.locator("#librechat-yaml").text_content())
    assert copied.strip() == block.strip() and "baseURL" in copied  # the clipboard drops a last newline
    wide_page.screenshot(path=str(ARTIFACTS / "words-copy-librechat-yaml.png"), full_page=True)

    # Without navigator.clipboard (plain http on another host), the text is selected instead.
    wide_page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    button = wide_page.get_by_role("button", name="Copy the librechat.yaml block")
    button.click()
    assert button.inner_text() == "Selected: press Ctrl+C"
    assert wide_page.evaluate("window.getSelection().toString()").strip() == block.strip()

    # The person's own LibreChat password on /me/, after re-entering their portal password.
    account = LibreChatAccount.objects.select_related("person").first()
    assert account is not None
    account.password = "generated-librechat-password-42"
    account.status = "ready"
    account.provisioned_at = timezone.now()
    account.save()
    wide_page.context.clear_cookies()
    wide_page.goto("/accounts/login/")
    wide_page.get_by_label("Email").fill(account.person.email)
    wide_page.get_by_label("Password").fill("a long passphrase 1")
    wide_page.keyboard.press("Enter")
    wide_page.wait_for_url(lambda url: "login" not in url)
    wide_page.goto("/me/")
    wide_page.get_by_label("Your portal password").fill("a long passphrase 1")
    wide_page.get_by_role("button", name="Show the LibreChat password").click()
    assert click_copy(wide_page, "Copy the LibreChat password") == "generated-librechat-password-42"
    wide_page.screenshot(path=str(ARTIFACTS / "words-copy-me-password.png"), full_page=True)
