"""The whole flow with KNOWN secret values, then a search for their plaintext everywhere it must
never be: the DEBUG logs (this process and the workers'), every key of the Redis database (task
messages, unacked messages, task results, cache), every admin page and every API response.

Showing a secret is the point in three places only, and those answers are not searched for
the secret they show: the one reveal right after a key is created (staff), the person's own
session endpoint (their access token), and the person's own LibreChat password behind
re-authentication on /me/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, reverse

from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.litellm.models import KeyPlan, LiteLLMModel, LiteLLMServer, VirtualKey
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import SignupMode, SignupPolicy, User
from portal.connectivity import tasks as connectivity_tasks
from portal.connectivity.models import AlertChannel
from portal.core.queues import network_queue_name
from tests.connectivity.factories import make_network, make_target
from tests.mailbox import portal_mail
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NETWORK = "backend-dev"
LAB_NETWORK = "hygiene-lab"
FERNET_KEY = base64.urlsafe_b64encode(b"hygiene-fernet-key-32-bytes-long").decode()
MASTER = "sk-hygiene-master-7f3a9c2e5b1d4f60"
PERSON_PASSWORD = "hygiene portal passphrase 9Q"
STAFF_PASSWORD = "hygiene staff passphrase 4W"
WEBHOOK = "https://hooks.slack.example/services/T0HYG/B0HYG/hygieneWebhookSecret42"
TARGET_PASSWORD = "hygiene-target-db-password-31"
ENDPOINT = "LiteLLM"


@pytest.fixture
def known_fernet_key(settings: Any) -> None:
    settings.FERNET_ACTIVE_KEYS = (FERNET_KEY.encode(),)


@pytest.fixture
def litellm_sim() -> Iterator[LiteLLMSimulator]:
    with LiteLLMSimulator(master_key=MASTER, seed=5) as sim:
        yield sim


@pytest.fixture
def chat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as sim:
        sim.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        yield sim


@pytest.fixture
def worker(transactional_db: None, redis_url: str, known_fernet_key: None) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default", network_queue_name(NETWORK), network_queue_name(LAB_NETWORK)],
        # Mail kept in the worker's memory: the console backend's "delivery" is the log itself.
        extra_env={"FERNET_KEYS": FERNET_KEY, "DJANGO_LOG_LEVEL": "DEBUG", "EMAIL_URL": "memorymail://"},
    )
    worker.argv[worker.argv.index("--loglevel") + 1] = "DEBUG"
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(condition: Callable[[], Any], worker: CeleryWorker, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached in {seconds} s; worker log:\n{worker.log()[-4000:]}")
        time.sleep(0.1)


# --- where secrets must not be ----------------------------------------------------------------


def redis_texts(url: str) -> dict[str, str]:
    """Every value of every key in the database, with base64 message bodies decoded too."""
    client: Any = redis.Redis.from_url(url)
    found: dict[str, str] = {}
    for raw_key in client.scan_iter(count=1000):
        kind = client.type(raw_key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(raw_key) or b""]
        elif kind == "list":
            values = client.lrange(raw_key, 0, -1)
        elif kind == "hash":
            values = [k + b"=" + v for k, v in client.hgetall(raw_key).items()]
        elif kind == "set":
            values = list(client.smembers(raw_key))
        elif kind == "zset":
            values = list(client.zrange(raw_key, 0, -1))
        texts = [v.decode(errors="replace") for v in values]
        found[raw_key.decode(errors="replace")] = "\n".join([*texts, *map(_decoded_bodies, texts)])
    return found


def _decoded_bodies(text: str) -> str:
    """kombu wraps a task message as JSON with a base64 `body`; an unacked entry is a JSON list
    holding that envelope."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            body = node.get("body")
            if isinstance(body, str):
                with contextlib.suppress(ValueError):
                    out.append(base64.b64decode(body).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with contextlib.suppress(ValueError):
        walk(json.loads(text))
    return "\n".join(out)


def admin_pages(client: Client) -> dict[str, str]:
    """Every admin page a superuser can GET: the index, each app, and for every registered model
    its changelist, add page and every URL taking an object's id (change, history, delete, and
    the custom views) for up to five rows."""
    pages: dict[str, str] = {}
    skipped: list[str] = []

    def get(url: str) -> None:
        if url in pages:
            return
        response = client.get(url)
        assert response.status_code < 500, f"{url}: {response.status_code}"
        pages[url] = response.content.decode(errors="replace")
        if response.status_code != 200:
            skipped.append(f"{url} {response.status_code}")

    get(reverse("admin:index"))
    for model, model_admin in admin.site._registry.items():
        model_cls: type[models.Model] = model
        get(reverse("admin:app_list", args=[model_cls._meta.app_label]))
        pks = list(model_cls._default_manager.order_by("-pk").values_list("pk", flat=True)[:5])
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or not pattern.name:
                continue
            name = f"admin:{pattern.name}"
            if pattern.name.endswith("_autocomplete"):
                continue
            try:
                get(reverse(name))
                continue
            except NoReverseMatch:
                pass
            for pk in pks:
                try:
                    get(reverse(name, args=[pk]))
                except NoReverseMatch:
                    break
    # Some pages refuse by design (a singleton's add page, deleting a key row that would leave it
    # in LiteLLM); every other page must really render.
    assert len(skipped) < 0.2 * len(pages), "\n".join(skipped)
    return pages


def api_pages(client: Client) -> dict[str, str]:
    """The non-admin pages and API answers that take no argument."""
    from portal import urls as root

    pages: dict[str, str] = {}
    for url in [
        "/healthz",
        "/readyz",
        "/me/",
        "/accounts/signup/",
        "/accounts/login/",
        "/api/librechat/session",
    ]:
        pages[url] = client.get(url).content.decode(errors="replace")
    assert root.urlpatterns  # the list above covers every argument-free route of portal/urls.py
    return pages


def database_texts() -> dict[str, str]:
    """Every row of every table as the ORM reads it: encrypted fields come back as `Secret`
    (masked when printed), so a plaintext found here sits in a plain column (an error text, a
    status note, a JSON blob, the admin log)."""
    from django.apps import apps

    texts: dict[str, str] = {}
    for model in apps.get_models():
        rows = list(model._default_manager.values())
        if rows:
            texts[f"table {model._meta.db_table}"] = "\n".join(map(repr, rows))
    return texts


def leaks(
    texts: dict[str, str], secrets: dict[str, str], *, allowed: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    return [
        f"{name} in {where}"
        for where, text in texts.items()
        for name, value in secrets.items()
        if name not in allowed and value in text
    ]


# --- the flow -------------------------------------------------------------------------------------


def test_it_leaks_no_secret_anywhere(
    litellm_sim: LiteLLMSimulator,
    chat_sim: LibreChatSimulator,
    worker: CeleryWorker,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
    proof_line: Callable[[str], None],
) -> None:
    caplog.set_level(logging.DEBUG)
    litellm_server = LiteLLMServer(name="litellm-dev", base_url=litellm_sim.base_url, network=NETWORK)
    litellm_server.master_key = MASTER
    litellm_server.save()
    for name, model_id in (("gpt-4o-mock", "m1"), ("claude-mock", "m2")):
        LiteLLMModel.objects.create(
            server=litellm_server, model_name=name, model_id=model_id, provider_model=f"x/{name}"
        )
    chat_server = LibreChatServer.objects.create(
        name="librechat-dev",
        api_url=chat_sim.base_url,
        public_url="https://chat.example.com",
        network=NETWORK,
    )
    plan = KeyPlan.objects.create(
        name="people", allowed_models=["gpt-4o-mock"], max_budget=Decimal("10"), budget_duration="30d"
    )
    Pairing.objects.create(
        librechat_server=chat_server, litellm_server=litellm_server, endpoint_name=ENDPOINT, default_plan=plan
    )
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)

    # A person signs up, verifies, and the workers give them LibreChat and their own key.
    person_client = Client()
    signup = {
        "email": "hy@example.com",
        "name": "Hy Giene",
        "password1": PERSON_PASSWORD,
        "password2": PERSON_PASSWORD,
    }
    assert person_client.post("/accounts/signup/", signup).status_code == 302
    link = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", portal_mail()[-1].body.reveal())
    assert link
    person_client.post(link.group(1), {"password": PERSON_PASSWORD})
    wait_for(lambda: LibreChatAccount.objects.filter(status=AccountStatus.READY).exists(), worker)
    wait_for(
        lambda: PersonalKey.objects.filter(
            person__email="hy@example.com", step="", key__isnull=False
        ).exists(),
        worker,
    )
    assert person_client.post("/accounts/login/", {"username": "hy@example.com", "password": PERSON_PASSWORD})
    responses: dict[str, str] = {}
    session = person_client.get("/api/librechat/session")
    assert session.status_code == 200, session.content
    access_token = session.json()["access_token"]
    revealed = person_client.post("/me/", {"password": PERSON_PASSWORD}).content.decode()
    account = LibreChatAccount.objects.get(email="hy@example.com")
    librechat_password = account.password.reveal()
    assert librechat_password in revealed  # the one place the person sees it

    # Staff log in, create a key and see it once.
    User.objects.create_superuser(email="ops@example.com", password=STAFF_PASSWORD)
    staff = Client()
    assert (
        staff.post(
            "/admin/login/?next=/admin/", {"username": "ops@example.com", "password": STAFF_PASSWORD}
        ).status_code
        == 302
    )
    created = staff.post(
        reverse("admin:litellm_virtualkey_add"),
        {
            "server": litellm_server.pk,
            "key_alias": "ci-bot",
            "owner": "ana",
            "allowed_models": ["gpt-4o-mock"],
            "max_budget": "10",
            "budget_duration": "30d",
            "rpm_limit": "60",
            "duration": "",
        },
    )
    assert created.status_code == 302, created.content[:2000]
    reveal = staff.get(created["Location"]).content.decode()
    staff_key = re.search(r'value="(sk-[A-Za-z0-9_-]{32,})"', reveal)
    assert staff_key
    staff_raw = staff_key.group(1)
    wait_for(lambda: litellm_sim.get_key(staff_raw) is not None, worker)

    # Staff invite someone: the link is shown once to them and mailed; its token is stored hashed.
    invited = staff.post(
        reverse("admin:accounts_invitation_add"),
        {"email": "invitee@example.com", "name": "In Vitee", "plan": ""},
    ).content.decode()
    invitation_link = re.search(r"/accounts/invitation/([A-Za-z0-9_-]{40,})/", invited)
    assert invitation_link
    wait_for(lambda: all(m.status == "sent" for m in portal_mail() if m.kind == "invitation"), worker)

    # A probe with a password, and a webhook alert channel.
    lab = make_network(LAB_NETWORK)
    target = make_target(
        f"postgresql://monitor:{TARGET_PASSWORD}@127.0.0.1:9/portal", lab, name="db with password"
    )
    connectivity_tasks.target_check.apply_async(
        kwargs={"target_id": target.pk, "network_id": lab.pk}, queue=network_queue_name(LAB_NETWORK)
    ).get(timeout=30)
    AlertChannel.objects.create(name="ops webhook", kind=AlertChannel.Kind.WEBHOOK, webhook_url=WEBHOOK)

    personal = PersonalKey.objects.select_related("key").get(person__email="hy@example.com")
    personal_raw = json.loads(chat_sim.user_keys("hy@example.com")[ENDPOINT])["apiKey"]
    assert personal.key is not None and personal_raw.startswith("sk-")
    secrets = {
        "fernet key": FERNET_KEY,
        "litellm master key": MASTER,
        "person's portal password": PERSON_PASSWORD,
        "staff password": STAFF_PASSWORD,
        "librechat password": librechat_password,
        "staff-created virtual key": staff_raw,
        "person's virtual key": personal_raw,
        "webhook url": WEBHOOK,
        "target password": TARGET_PASSWORD,
        "invitation token": invitation_link.group(1),
    }
    for number, row in enumerate(LibreChatSession.objects.all()):
        secrets[f"access token {number}"] = row.access_token.reveal()
        secrets[f"refresh token {number}"] = row.refresh_token.reveal()
    assert access_token in secrets.values()

    # Where they must not be.
    responses["/api/librechat/session (own token)"] = session.content.decode()
    responses["/me/ after re-authentication"] = revealed
    allowed_here = {
        "/api/librechat/session (own token)": {k for k, v in secrets.items() if v == access_token},
        "/me/ after re-authentication": {"librechat password"},
    }
    found: list[str] = []
    for where, text in responses.items():
        found += leaks({where: text}, secrets, allowed=allowed_here[where])
    person_pages = api_pages(person_client)
    person_pages.pop("/api/librechat/session")  # checked above, with its one allowed token
    found += leaks({f"person {k}": v for k, v in person_pages.items()}, secrets)
    found += leaks({f"anonymous {k}": v for k, v in api_pages(Client()).items()}, secrets)
    pages = admin_pages(staff)
    found += leaks(pages, secrets)
    worker.stop()
    logs = {"worker log (DEBUG)": worker.log(), "test process log (DEBUG)": caplog.text}
    found += leaks(logs, secrets)
    stored = redis_texts(redis_url)
    found += leaks(stored, secrets)
    tables = database_texts()
    found += leaks(tables, secrets)
    for n, sent in enumerate(portal_mail()):
        # The invitation mail carries its link: that is how the invitation arrives.
        allowed_in_mail = {"invitation token"} if sent.kind == "invitation" else set()
        found += leaks(
            {f"mail {n} to {sent.to}": f"{sent.subject}\n{sent.body.reveal()}"},
            secrets,
            allowed=allowed_in_mail,
        )

    # The search looked where it claims to: results, decoded task bodies, DEBUG lines, real pages.
    assert any(k.startswith("celery-task-meta-") for k in stored)
    assert "table django_admin_log" in tables and "table librechat_librechataccount" in tables
    assert any('"account_id"' in text or '"key_id"' in text for text in stored.values()) or not any(
        "unacked" in k for k in stored
    )
    assert "DEBUG" in worker.log() and "librechat.account_provision" in worker.log()
    key_page = pages[
        reverse("admin:litellm_virtualkey_change", args=[VirtualKey.objects.get(key_alias="ci-bot").pk])
    ]
    assert f"sk-...{staff_raw[-4:]}" in key_page
    assert sum("Log in" in page and "id_password" in page for page in pages.values()) == 0
    assert found == [], "\n".join(found)
    proof_line(
        f"secrets: known={len(secrets)} admin_pages={len(pages)} api_responses={len(person_pages) + 8} "
        f"redis_keys={len(stored)} tables={len(tables)} mails={len(portal_mail())} log_lines={sum(t.count(chr(10)) for t in logs.values())} leaks={len(found)}"
    )


def test_it_finds_a_secret_planted_in_a_task_message(redis_url: str) -> None:
    """The searcher itself: a kombu envelope whose base64 body carries a secret is caught."""
    planted = "sk-planted-secret-0123456789"
    body = base64.b64encode(json.dumps([[], {"raw": planted}, {}]).encode()).decode()
    client = redis.Redis.from_url(redis_url)
    client.rpush("hygiene-probe-queue", json.dumps({"body": body, "properties": {"body_encoding": "base64"}}))
    try:
        assert leaks(redis_texts(redis_url), {"planted": planted}) == ["planted in hygiene-probe-queue"]
    finally:
        client.delete("hygiene-probe-queue")
