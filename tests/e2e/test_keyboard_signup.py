"""Signup with the keyboard alone: Tab, typing and Enter, no click. Every field has a label
that names it, focus moves through the form in reading order, and an error is announced and
reachable without a mouse."""

from __future__ import annotations

from typing import Any

import pytest

from portal.accounts.models import SignupMode, SignupPolicy, User
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.e2e
PASSWORD = "a long portal passphrase 7"

FOCUSED = """() => {
  const el = document.activeElement;
  const label = el.id ? document.querySelector(`label[for="${el.id}"]`) : null;
  return {tag: el.tagName.toLowerCase(), id: el.id, text: (el.innerText || '').trim(),
          label: label ? label.innerText.trim() : null};
}"""


@pytest.fixture
def open_signup(transactional_db: None) -> None:
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)


def tab_to(page: Any, element_id: str, limit: int = 10) -> dict[str, Any]:
    """Press Tab until `element_id` has focus; the stops on the way are the focus order."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused["id"] == element_id:
            return focused
    pytest.fail(f"#{element_id} never got focus within {limit} Tab presses")


def test_it_signs_up_with_tab_typing_and_enter_only(page: Any, open_signup: None) -> None:
    page.goto("/accounts/signup/")
    stops = []
    for _ in range(7):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED))
    assert [(s["tag"], s["id"] or s["text"]) for s in stops] == [
        ("a", "Sign in"),
        ("a", "Sign up"),
        ("input", "id_email"),
        ("input", "id_name"),
        ("input", "id_password1"),
        ("input", "id_password2"),
        ("button", "Sign up"),
    ]
    assert [s["label"] for s in stops[2:6]] == ["Email", "Name", "Password", "Password again"]

    page.goto("/accounts/signup/")
    for element_id, text in (
        ("id_email", "kim@example.com"),
        ("id_name", "Kim Example"),
        ("id_password1", PASSWORD),
        ("id_password2", PASSWORD + " typo"),
    ):
        tab_to(page, element_id)
        page.keyboard.type(text)
    page.keyboard.press("Enter")  # Enter in a field submits the form
    page.wait_for_load_state()
    alert = page.get_by_role("alert")
    assert "The two passwords differ." in alert.inner_text()
    assert not User.objects.filter(email="kim@example.com").exists()

    # The form kept email and name; the passwords are typed again, reached by Tab alone.
    assert page.locator("#id_email").input_value() == "kim@example.com"
    tab_to(page, "id_password1")
    page.keyboard.type(PASSWORD)
    tab_to(page, "id_password2")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["text"] == "Sign up"
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/signup/done/")
    assert User.objects.filter(email="kim@example.com", email_verified_at__isnull=True).exists()
    assert len(deliver_queued_mail()) == 1 and "kim@example.com" in deliver_queued_mail()[0].to
