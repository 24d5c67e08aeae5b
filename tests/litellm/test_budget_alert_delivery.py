"""Budget alerts end to end, with TWO real Celery workers: a person's key crosses 80 % then
100 % against the LiteLLM simulator while syncs overlap (two in the workers, one here), and
exactly one mail reaches the person's mailbox (a loopback SMTP server) and exactly one post
the staff webhook per crossing; a budget reset alerts again, a rotation does not."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from integrations.librechat.models import LibreChatServer
from integrations.litellm import keys, limits, sync
from integrations.litellm.models import BudgetAlert, KeyPlan, LiteLLMServer, VirtualKey
from portal.access import budget_mail
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import User
from portal.celery import app
from portal.connectivity import budget_alerts as staff_alerts
from portal.connectivity.models import AlertChannel, AlertDelivery, Network
from tests.connectivity.factories import make_network
from tests.litellm.conftest import NETWORK
from tests.litellm.test_key_actions import apply
from tests.simulators import litellm as simulator
from tests.simulators.litellm import LiteLLMSimulator
from tests.smtp_listener import LoopbackSMTP
from tests.webhook_listener import WebhookReceiver, webhook  # noqa: F401
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp() -> Iterator[LoopbackSMTP]:
    server = LoopbackSMTP().start()
    server.answer()
    yield server
    server.stop()


@pytest.fixture
def two_workers(transactional_db: None, redis_url: str, smtp: LoopbackSMTP) -> Iterator[list[CeleryWorker]]:
    workers = [
        CeleryWorker(
            database_url=database_url_for_tests(),
            broker_url=redis_url,
            queues=["default", f"net.{NETWORK}"],
            concurrency=1,
            extra_env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", "EMAIL_TIMEOUT": "5"},
        )
        for _ in range(2)
    ]
    # Started and stopped side by side: each takes seconds, waiting on its own process.
    with ThreadPoolExecutor(2) as pool:
        try:
            list(pool.map(CeleryWorker.start, workers))
            yield workers
        finally:
            list(pool.map(CeleryWorker.stop, workers))


def wait_until(
    condition: Callable[[], bool], what: str, workers: list[CeleryWorker], seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(w.log()[-3000:] for w in workers)
            raise AssertionError(f"not within {seconds} s: {what}\n{logs}")
        time.sleep(0.1)


def ann_with_key(server: LiteLLMServer) -> tuple[User, VirtualKey]:
    """A person whose own key (budget $10 a day) is the row their PersonalKey names."""
    plan = KeyPlan.objects.create(name="people", max_budget=Decimal("10"), budget_duration="1d")
    chat = LibreChatServer.objects.create(name="librechat-dev", api_url="http://127.0.0.1:9", network=NETWORK)
    pairing = Pairing.objects.create(librechat_server=chat, litellm_server=server, default_plan=plan)
    now = dt.datetime.now(dt.UTC)
    person = User.objects.create_user(
        email="ann@example.com", password="portal pass 1", name="Ann", email_verified_at=now, approved_at=now
    )
    key = keys.key_create(
        server=server,
        alias="ann",
        limits=limits.KeyLimits(max_budget=Decimal("10"), budget_duration="1d"),
        keep_secret=True,
        enqueue=False,
        plan=plan,
    )
    assert apply(key).ok is True
    PersonalKey.objects.create(person=person, pairing=pairing, plan=plan, key=key, status="ready")
    return person, key


def overlapping_syncs(server: LiteLLMServer) -> None:
    """Two syncs in the two workers and one here, at the same time; returns when all are done."""
    results = [
        app.send_task("litellm.server_sync", kwargs={"server_id": server.pk}, queue=f"net.{NETWORK}")
        for _ in range(2)
    ]
    sync.keys_sync(server=server)
    for result in results:
        result.get(timeout=30)


def test_each_crossing_reaches_the_person_and_the_webhook_once_with_two_workers(
    tx_server: LiteLLMServer,
    sim: LiteLLMSimulator,
    two_workers: list[CeleryWorker],
    smtp: LoopbackSMTP,
    webhook: WebhookReceiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not Network.objects.filter(name=NETWORK).exists():  # seeded, unless a flush removed it
        make_network(name=NETWORK)
    channel = AlertChannel(name="slack", kind="webhook")
    channel.webhook_url = webhook.url
    channel.save()
    _, key = ann_with_key(tx_server)
    raw = key.raw_key.reveal() if key.raw_key else ""
    # A first sync alone: two first syncs would both add the server's models (servers.models_store).
    sync.keys_sync(server=tx_server)

    def told(n: int) -> None:
        """n mails to Ann and n webhook posts, nothing more once every side is handed over."""
        wait_until(lambda: len(smtp.messages) >= n and len(webhook.posts) >= n, f"{n} of each", two_workers)
        wait_until(
            lambda: (
                not BudgetAlert.objects.filter(staff_done_at=None).exists()
                and not BudgetAlert.objects.filter(person_done_at=None).exists()
                and not AlertDelivery.objects.filter(delivered_at=None).exists()
            ),
            "every side handed over and delivered",
            two_workers,
        )
        # The beats' nets find nothing left to do.
        assert budget_mail.budget_alerts_mail_due() == 0 and staff_alerts.budget_alerts_raise_due() == 0
        time.sleep(0.5)  # a duplicate would be on its way by now
        assert (len(smtp.messages), len(webhook.posts)) == (n, n)

    sim.set_spend(raw, 8.5)
    overlapping_syncs(tx_server)
    # Wake-ups sent again to both workers (a retried message, the beat racing a worker).
    ids = list(BudgetAlert.objects.values_list("id", flat=True))
    for task in (budget_mail.MAIL_TASK, staff_alerts.RAISE_TASK):
        for _ in range(2):
            app.send_task(task, kwargs={"alert_ids": ids}, queue="default")
    told(1)
    assert "ann@example.com" in smtp.messages[0] and "You have used 80% of your AI budget" in smtp.messages[0]
    text = webhook.posts[0][1]["text"]
    assert "ann@example.com" in text and "used 80% of its budget: $8.50 of $10.00" in text
    assert webhook.posts[0][1]["kind"] == "budget"

    sim.set_spend(raw, 10.5)
    overlapping_syncs(tx_server)
    told(2)
    assert "You have used 100% of your AI budget" in smtp.messages[1]

    # Past midnight in LiteLLM: its reset job zeroes the window, the next period alerts again.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    monkeypatch.setattr(simulator, "_now", lambda: later)
    assert sim.reset_budgets() == 1
    sim.set_spend(raw, 8.25)
    overlapping_syncs(tx_server)
    told(3)
    assert "$8.25 of $10.00" in webhook.posts[2][1]["text"]

    # A rotation: the new key carries the spend and the period; the crossing is not told again.
    old_hash = key.token_hash
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True and key.token_hash != old_hash
    overlapping_syncs(tx_server)
    told(3)
    assert BudgetAlert.objects.filter(key=key).count() == 3
