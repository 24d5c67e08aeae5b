"""A newcomer goes from an empty admin to a person whose own key sits in their LibreChat account
and answers a chat completion, following the admin index's guided setup alone, in a real
browser at 1366 px: add the REAL LiteLLM proxy (tests/real_litellm.py: it answers health and the
model list, but without a database makes no keys) and press Test connection, add the LiteLLM
contract simulator that makes the keys, a LibreChat server (simulator), a key plan and a pairing
with the simulator (the LiteLLM line then asks for the paired server's Test connection), save the signup policy, see a worker
heard on each network, then a person signs up, staff approve them from the count on the index,
and a real worker gives them their LibreChat account and key. Each checklist line must turn
done as the journey goes. Screenshots of each step go to test-artifacts/newcomer-*.png."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from integrations.librechat.models import AccountStatus, LibreChatAccount
from portal.access.models import PersonalKey
from portal.accounts.models import User
from portal.connectivity.models import Network
from portal.connectivity.tasks import network_heartbeat
from portal.core.queues import network_queue_name
from tests.access.personal_keys.support import ENDPOINT, MASTER, pushed_raw_key
from tests.e2e.conftest import ARTIFACTS, admin_log_in
from tests.mailbox import portal_mail
from tests.real_litellm import RealProxy
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = [pytest.mark.e2e, pytest.mark.real_litellm]
STAFF_PASSWORD = "a long admin passphrase 5"
PASSWORD = "a long portal passphrase 7"
SCREEN = {"width": 1366, "height": 900}
NETWORKS = ("backend-dev", "backend-prod")  # the seeded networks (connectivity migration 0002)


@pytest.fixture
def sims(transactional_db: None) -> Iterator[tuple[LiteLLMSimulator, LibreChatSimulator]]:
    with LiteLLMSimulator(master_key=MASTER, seed=17) as litellm, LibreChatSimulator() as chat:
        chat.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        yield litellm, chat


@pytest.fixture
def worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    """One real worker on the default queue and both networks' queues (as `make run`'s one)."""
    for name in NETWORKS:  # a flushed test database lost the seeded rows; an empty admin has them
        Network.objects.get_or_create(name=name)
    running = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default", *(network_queue_name(name) for name in NETWORKS)],
        concurrency=2,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def wait_until(condition: Callable[[], bool], what: str, worker: CeleryWorker, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached in {seconds} s\n{worker.log()[-3000:]}")
        time.sleep(0.3)


class Journey:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.shots = 0

    def shot(self, name: str) -> None:
        self.shots += 1
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"newcomer-{self.shots:02d}-{name}.png"), full_page=True)

    def line(self, step: str) -> str:
        return " ".join(self.page.locator(f'li[data-step="{step}"]').inner_text().split())

    def index(self, name: str, *, done: tuple[str, ...]) -> None:
        """Back on the index: exactly the steps `done` read done, the others to do."""
        self.page.goto("/admin/")
        self.shot(name)
        for step in ("litellm", "librechat", "pairing", "signup", "workers"):
            expected = "done" if step in done else "to do"
            assert self.line(step).startswith(expected), (step, self.line(step))

    def follow(self, step: str) -> None:
        """Click the link of the checklist line `step` (the newcomer follows the checklist)."""
        self.page.locator(f'li[data-step="{step}"] a').click()

    def save(self) -> None:
        self.page.get_by_role("button", name="Save", exact=True).click()
        self.page.locator("ul.messagelist li.success").first.wait_for()


def test_a_newcomer_follows_the_checklist_from_an_empty_admin_to_a_person_chatting(
    browser: Any,
    live_server: Any,
    sims: tuple[LiteLLMSimulator, LibreChatSimulator],
    worker: CeleryWorker,
    real_litellm: RealProxy,
) -> None:
    litellm, chat = sims
    User.objects.create_superuser(email="ops@example.com", password=STAFF_PASSWORD)
    context = browser.new_context(base_url=live_server.url, viewport=SCREEN)
    page = context.new_page()
    page.set_default_timeout(15_000)
    journey = Journey(page)
    admin_log_in(page, "ops@example.com", STAFF_PASSWORD)
    journey.index("empty", done=())
    assert "the default; no policy saved yet" in journey.line("signup")
    assert "Nobody is waiting for approval." in journey.line("approvals")

    # 1. LiteLLM: the real proxy, then Test connection on its page (a worker on its network's
    # queue): health and the model list come from the real thing.
    journey.follow("litellm")
    page.fill("#id_name", "litellm-real")
    page.fill("#id_base_url", real_litellm.base_url)
    page.fill("#id_network", "backend-dev")
    page.fill("#id_master_key_input", real_litellm.master_key)
    journey.save()
    journey.index("litellm-added", done=())
    assert "litellm-real: not checked yet" in journey.line("litellm")
    journey.follow("litellm")
    page.get_by_role("button", name="Test connection").click()
    tested = page.locator("ul.messagelist li.success").first
    tested.wait_for()
    assert "Models: claude-mock, gpt-4o-mock" in page.locator("ul.messagelist").inner_text()
    assert real_litellm.master_key not in page.content()
    journey.shot("litellm-tested")
    journey.index("litellm-done", done=("litellm",))
    assert "litellm-real passed Test connection" in journey.line("litellm")
    # Keys: the real proxy has no database to make them, so the simulator server makes them.
    page.goto("/admin/litellm/litellmserver/add/")
    page.fill("#id_name", "litellm-dev")
    page.fill("#id_base_url", litellm.base_url)
    page.fill("#id_network", "backend-dev")
    page.fill("#id_master_key_input", MASTER)
    journey.save()
    journey.index("litellm-keys-added", done=("litellm",))  # no pairing yet: any server may be it

    # 2. LibreChat.
    journey.follow("librechat")
    page.fill("#id_name", "librechat-dev")
    page.fill("#id_api_url", chat.base_url)
    page.fill("#id_public_url", "https://chat.example.com")
    page.fill("#id_network", "backend-dev")
    journey.save()
    journey.index("librechat-done", done=("litellm", "librechat"))

    # 3. A pairing, which first asks for a key plan.
    journey.follow("pairing")
    page.wait_for_url("**/litellm/keyplan/add/")
    page.fill("#id_name", "everyone")
    page.fill("#id_max_budget", "10")
    page.fill("#id_budget_duration", "30d")
    journey.save()
    journey.index("plan-added", done=("litellm", "librechat"))
    journey.follow("pairing")
    page.wait_for_url("**/access/pairing/add/")
    page.select_option("#id_librechat_server", label="librechat-dev")
    page.select_option("#id_litellm_server", label="litellm-dev")
    page.select_option("#id_default_plan", label="everyone")
    assert page.input_value("#id_endpoint_name") == ENDPOINT
    journey.save()
    # People's keys come from litellm-dev, which has not passed Test connection: the line says so.
    journey.index("paired-untested", done=("librechat", "pairing"))
    assert "litellm-dev: not checked yet" in journey.line("litellm")
    journey.follow("litellm")
    page.get_by_role("button", name="Test connection").click()
    page.locator("ul.messagelist li.success").first.wait_for()
    journey.index("pairing-done", done=("litellm", "librechat", "pairing"))
    assert "litellm-dev passed Test connection" in journey.line("litellm")

    # 4. The signup policy: one settings page; staff approval, saved on purpose.
    journey.follow("signup")
    page.wait_for_url("**/signuppolicy/add/")
    journey.shot("signup-policy")
    page.select_option("#id_mode", value="approval")
    journey.save()
    assert re.search(r"/signuppolicy/\d+/change/$", page.url)
    journey.index("signup-done", done=("litellm", "librechat", "pairing", "signup"))

    # 5. Workers: the beat's heartbeat entries run on each network's queue.
    assert "No worker heard lately on backend-dev, backend-prod" in journey.line("workers")
    for network in Network.objects.all():
        network_heartbeat.apply_async(args=(network.pk,), queue=network.queue)
    wait_until(lambda: all(n.facts_seen_at for n in Network.objects.all()), "both heartbeats", worker)
    journey.index("all-done", done=("litellm", "librechat", "pairing", "signup", "workers"))
    assert page.get_by_role("heading", name="Setup: 5 of 5 done, ready for people").is_visible()

    # 6. A person signs up in a browser of their own, confirms the address, and waits.
    person_context = browser.new_context(base_url=live_server.url, viewport=SCREEN)
    try:
        person_page = person_context.new_page()
        person_page.set_default_timeout(15_000)
        person_signs_up(person_page, journey)

        # 7. Staff see the count on the index and approve from the People list.
        journey.index("one-waiting", done=("litellm", "librechat", "pairing", "signup", "workers"))
        assert "1 person waiting for approval." in journey.line("approvals")
        journey.follow("approvals")
        page.wait_for_url("**/accounts/user/?signup=waiting")
        assert page.locator("#result_list tbody tr").count() == 1
        page.locator("#action-toggle").check()
        page.select_option("select[name=action]", value="approve")
        journey.shot("approve")
        page.locator("button[name=index]").click()
        # Confirmation before harm (portal.core.confirm): the page lists the person first.
        assert "ann@example.com" in page.locator("#content").inner_text()
        journey.shot("approve-confirm")
        page.get_by_role("button", name=re.compile(r"^Yes")).click()
        page.locator("ul.messagelist li.success").first.wait_for()
        assert "1 approved" in page.locator("ul.messagelist").inner_text()
        journey.shot("approved")

        # 8. A worker makes their LibreChat account and their own key, and pushes it in.
        person = User.objects.get(email="ann@example.com")
        wait_until(
            lambda: PersonalKey.objects.filter(person=person, status="ready", step="").exists(),
            "the person's key ready",
            worker,
        )
        assert LibreChatAccount.objects.get(person=person).status == AccountStatus.READY
        person_page.reload()
        assert person_page.get_by_role("status").first.inner_text().lower().startswith("ready")
        journey.page = person_page
        journey.shot("person-ready")
    finally:
        person_context.close()
    journey.page = page
    journey.index("after", done=("litellm", "librechat", "pairing", "signup", "workers"))
    assert "Nobody is waiting for approval." in journey.line("approvals")

    # The key in their LibreChat account is theirs, and LiteLLM answers with it.
    raw = pushed_raw_key(chat, "ann@example.com")
    answer = requests.post(
        f"{litellm.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {raw}"},
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]

    # Later the operator closes signup: garbage domains are refused naming the entry, and a
    # stranger's browser gets "signup is closed" instead of the form.
    journey.follow("signup")
    page.select_option("#id_mode", value="domains")
    page.fill("#id_allowed_domains", "corp.test\nhttps://corp.test\nlocalhost")
    page.get_by_role("button", name="Save", exact=True).click()
    errors = page.locator(".errorlist").first.inner_text()
    assert "'https://corp.test' is not a domain name" in errors and "'localhost'" in errors, errors
    journey.shot("domains-refused")
    page.select_option("#id_mode", value="closed")
    page.fill("#id_allowed_domains", "")
    journey.save()
    journey.index("closed", done=("litellm", "librechat", "pairing", "signup", "workers"))
    assert "Signup: closed." in journey.line("signup")
    assert page.get_by_role("heading", name="Setup: 5 of 5 done; signup is closed").is_visible()
    context.close()
    stranger = browser.new_context(base_url=live_server.url, viewport=SCREEN)
    try:
        journey.page = stranger.new_page()
        journey.page.goto("/accounts/signup/")
        journey.page.get_by_role("heading", name="Signup is closed").wait_for()
        assert journey.page.get_by_label("Email").count() == 0
        journey.shot("signup-closed")
    finally:
        stranger.close()


def person_signs_up(person_page: Any, journey: Journey) -> None:
    person_page.goto("/accounts/signup/")
    assert "a staff member approves your signup" in person_page.content()
    person_page.get_by_label("Email").fill("ann@example.com")
    person_page.get_by_label("Name").fill("Ann Example")
    person_page.get_by_label("Password", exact=True).fill(PASSWORD)
    person_page.get_by_label("Password again").fill(PASSWORD)
    person_page.get_by_role("button", name="Sign up").click()
    person_page.wait_for_url("**/accounts/signup/done/")
    [mail] = [m for m in portal_mail() if "ann@example.com" in m.to]
    found = re.search(r"https?://[^/\s]+(/accounts/verify/[^/\s]+/)", mail.body.reveal())
    assert found, mail.subject
    person_page.goto(found.group(1))
    person_page.get_by_label("Your portal password").fill(PASSWORD)
    person_page.get_by_role("button", name="Confirm my email address").click()
    person_page.wait_for_url("**/me/")
    saved, journey.page = journey.page, person_page
    journey.shot("person-waiting")
    journey.page = saved
