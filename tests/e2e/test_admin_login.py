from __future__ import annotations

import pytest

from portal.accounts.models import User

pytestmark = pytest.mark.e2e


def test_it_lets_staff_log_in_to_the_admin_with_the_keyboard(page, transactional_db) -> None:
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    page.goto("/admin/")
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill("a long admin passphrase")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith("/admin/") and "login" not in url)
    assert page.get_by_role("heading", name="LiteLLM, LibreChat and connectivity").is_visible()


def test_it_refuses_a_wrong_password_with_a_message(page, transactional_db) -> None:
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    page.goto("/admin/login/")
    page.get_by_label("Email address").fill("ops@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Please enter the correct email address and password").is_visible()
