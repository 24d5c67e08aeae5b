"""Staff create a virtual key in the admin (a real worker on the server's network queue asks the
LiteLLM simulator), see the full key once on the reveal page, and afterwards only `sk-...xxxx`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from integrations.litellm.client import hash_token
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.e2e.conftest import admin_log_in
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.e2e
MASTER = "sk-portal-test-master-0123456789abcdef"


@pytest.fixture
def litellm(transactional_db: None) -> Iterator[LiteLLMSimulator]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=11)
    sim.start()
    row = LiteLLMServer(name="litellm-dev", base_url=sim.base_url, network="backend-dev")
    row.master_key = MASTER
    row.save()
    yield sim
    sim.stop()


def test_it_shows_a_new_key_once_then_only_masked(
    page: Any, litellm: LiteLLMSimulator, e2e_worker: Any
) -> None:
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    admin_log_in(page, "ops@example.com", "a long admin passphrase")
    page.goto("/admin/litellm/virtualkey/add/")
    page.get_by_label("Key alias").fill("ci-bot")
    page.get_by_label("Owner").fill("ana")
    page.get_by_label("Max budget").fill("10")
    page.get_by_label("Budget duration").fill("30d")
    page.get_by_role("button", name="Save", exact=True).click()

    page.wait_for_url(re.compile(r"/admin/litellm/virtualkey/\d+/reveal/$"))
    raw = page.locator("#litellm-raw-key").input_value()
    key = VirtualKey.objects.get()
    assert raw.startswith("sk-") and hash_token(raw) == key.token_hash
    assert litellm.calls[("POST", "/key/generate")] == 1
    masked = f"sk-...{raw[-4:]}"
    assert masked in page.content()

    page.reload()  # the reveal is spent: back to the key's page, which names only the abbreviation
    page.wait_for_url(re.compile(r"/admin/litellm/virtualkey/\d+/change/$"))
    assert "shown once already" in page.content()
    assert raw not in page.content() and masked in page.content()
    page.goto("/admin/litellm/virtualkey/")
    assert page.get_by_role("link", name="ci-bot").is_visible()
    assert raw not in page.content() and masked in page.content()
