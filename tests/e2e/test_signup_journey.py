"""A person signs up in a real browser, confirms the address from the email, signs in and sees
"ready" on /me/ once a real Celery worker has created their account in LibreChat (simulator)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from integrations.librechat.models import LibreChatServer
from portal.accounts.models import SignupMode, SignupPolicy
from tests.mailbox import portal_mail
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.e2e
PASSWORD = "a long portal passphrase 7"


@pytest.fixture
def librechat(transactional_db: None) -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        simulator.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        LibreChatServer.objects.create(
            name="librechat-api",
            api_url=simulator.base_url,
            public_url="https://chat.example.com",
            network="backend-dev",
        )
        SignupPolicy.objects.all().delete()
        SignupPolicy.objects.create(mode=SignupMode.OPEN)
        yield simulator


def verify_path_from_the_outbox() -> str:
    outbox = portal_mail()  # the worker may have sent it already: read what the portal wrote
    assert len(outbox) == 1, [m.subject for m in outbox]
    found = re.search(r"https?://[^/\s]+(/accounts/verify/[^/\s]+/)", outbox[0].body.reveal())
    assert found, outbox[0].subject
    return found.group(1)


def test_it_takes_a_person_from_signup_to_ready(
    page: Any, librechat: LibreChatSimulator, e2e_worker: Any
) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Name").fill("Ann Example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/accounts/signup/done/")
    assert sum(librechat.calls.values()) == 0  # nothing in LibreChat before the address is confirmed

    # Confirming takes the signup password too (a stranger's signup must not be confirmed by
    # the owner's click), and signs the person in.
    page.goto(verify_path_from_the_outbox())
    page.get_by_label("Your portal password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm my email address").click()
    page.wait_for_url("**/me/")

    status = page.get_by_role("status").filter(has_text=re.compile("ready|waiting|attention"))
    deadline = time.monotonic() + 25
    while "ready" not in (status.first.get_attribute("class") or ""):
        if time.monotonic() > deadline:
            pytest.fail(f"not ready: {status.first.inner_text()}\n{e2e_worker.log()[-3000:]}")
        time.sleep(0.3)
        page.reload()
    assert status.first.inner_text().strip().lower().startswith("ready")
    assert librechat.calls[("POST", "/api/auth/register")] == 1
    # The generated LibreChat password appears only after the portal password is typed again.
    page.get_by_label("Your portal password").fill(PASSWORD)
    page.get_by_role("button", name="Show the LibreChat password").click()
    shown = page.locator("dd code").last.inner_text()
    assert librechat.check_password("ann@example.com", shown)
