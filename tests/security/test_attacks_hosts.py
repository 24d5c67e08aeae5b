"""Attacks on where secrets go, on URLs people type in, and on encrypted columns (issue #11).

Item 2: staff without "Can change a server's address" cannot point a LiteLLM or LibreChat server
(or a model's api_base) at their own listener; a new LiteLLM origin takes the master key again
(the stored one is dropped); a changed LibreChat address gets no one's password or token until
someone with the permission confirms it (logged), and the waiting rows lose nothing; the master
key never goes to /health/liveliness or /health/readiness. A real listener on loopback records
every header it is sent.
Item 9: `javascript:` and other non-http(s) URLs are refused as LibreChat's public/API URL, a
model's api_base and a webhook, and a stored one is never rendered as a link on /me/ (the CSP
itself is proved in the browser: tests/e2e/test_csp.py).
Item 10: `?master_key__startswith=` (or any lookup but isnull) on an encrypted column is refused
at the field, so a view-only changelist answers the same whatever the guessed prefix.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import FieldError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.librechat.accounts import account_create
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.librechat.provisioning import account_provision
from integrations.librechat.servers import CONFIRM_NOTE, AddressUnconfirmed
from integrations.librechat.sessions import session_access_token
from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
from portal.access.models import Pairing
from portal.accounts.models import User
from tests.security.conftest import MASTER
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, database_url_for_tests

INLINE = {"llm_models-TOTAL_FORMS": "0", "llm_models-INITIAL_FORMS": "0"}
ADDRESS = "litellm.change_server_address"
CHAT_ADDRESS = "librechat.change_server_address"


class Listener:
    """An attacker's HTTP listener on loopback: answers like a healthy LiteLLM, keeps every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                listener.requests.append((self.command, self.path, dict(self.headers.items()), body))
                path = self.path.split("?")[0]
                payload: Any = {"data": []}
                if path == "/health/liveliness":
                    payload = "I'm alive!"
                elif path.startswith("/health/readiness"):
                    payload = {"status": "healthy", "db": "connected", "litellm_version": "1.106.2"}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, secret: str) -> list[str]:
        """The paths of the requests that carried `secret` anywhere (headers or body)."""
        return [
            path
            for _, path, headers, body in self.requests
            if secret in json.dumps(headers) or secret.encode() in body
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    attacker = Listener()
    yield attacker
    attacker.stop()


@pytest.fixture
def net_worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    """A real worker on the servers' network queue: "Test connection" really calls out."""
    worker = CeleryWorker(
        database_url=database_url_for_tests(), broker_url=redis_url, queues=["default", "net.backend-dev"]
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def server_form(server: LiteLLMServer, **changes: str) -> dict[str, str]:
    return {
        "name": server.name,
        "base_url": server.base_url,
        "network": server.network,
        "master_key_input": "",
        **INLINE,
        **changes,
    }


# --- Item 2: LiteLLM ------------------------------------------------------------------------------


def test_staff_without_the_address_permission_cannot_send_the_master_key_to_their_listener(
    staff_with: Callable[..., Client],
    litellm_server: LiteLLMServer,
    listener: Listener,
    net_worker: CeleryWorker,
) -> None:
    staff = staff_with("litellm.view_litellmserver", "litellm.change_litellmserver")
    change = reverse("admin:litellm_litellmserver_change", args=[litellm_server.pk])
    assert f'name="base_url" value="{litellm_server.base_url}"' not in staff.get(change).content.decode()
    staff.post(change, server_form(litellm_server, base_url=listener.url, network="backend-dev"))
    staff.post(reverse("admin:litellm_litellmserver_test", args=[litellm_server.pk]), follow=True)
    litellm_server.refresh_from_db()
    assert litellm_server.base_url != listener.url
    assert listener.requests == []  # not even a probe: the address never changed


def test_a_new_origin_takes_the_master_key_again_and_drops_the_stored_one(
    staff_with: Callable[..., Client], litellm_server: LiteLLMServer, listener: Listener
) -> None:
    staff = staff_with("litellm.view_litellmserver", "litellm.change_litellmserver", ADDRESS)
    change = reverse("admin:litellm_litellmserver_change", args=[litellm_server.pk])
    refused = staff.post(change, server_form(litellm_server, base_url=listener.url))
    assert refused.status_code == 200
    assert (
        "The address changed (scheme, host, port or network): enter the master key"
        in refused.content.decode()
    )
    litellm_server.refresh_from_db()
    assert litellm_server.base_url != listener.url and litellm_server.master_key.reveal() == MASTER
    # The network is part of the address: `litellm` resolves to another host in another network.
    refused = staff.post(change, server_form(litellm_server, network="backend-prod"))
    assert "enter the master key" in refused.content.decode()
    # Bad input is a field error, not a 500.
    bad = staff.post(change, server_form(litellm_server, base_url="http://127.0.0.1:99999"))
    assert bad.status_code == 200 and "is not an http:// or https:// address" in bad.content.decode()
    # A new path on the same origin is no new host.
    kept = staff.post(change, server_form(litellm_server, base_url=litellm_server.base_url + "/v1"))
    assert kept.status_code == 302
    other = "sk-the-listeners-own-key-0123456789"
    saved = staff.post(change, server_form(litellm_server, base_url=listener.url, master_key_input=other))
    assert saved.status_code == 302
    litellm_server.refresh_from_db()
    assert litellm_server.base_url == listener.url and litellm_server.master_key.reveal() == other


def test_the_master_key_never_goes_to_the_public_health_routes(
    staff_with: Callable[..., Client], listener: Listener, net_worker: CeleryWorker
) -> None:
    staff = staff_with("litellm.view_litellmserver", "litellm.change_litellmserver")
    server = LiteLLMServer(name="probe", base_url=listener.url, network="backend-dev")
    server.master_key = MASTER
    server.save()
    staff.post(reverse("admin:litellm_litellmserver_test", args=[server.pk]), follow=True)
    paths = [path for _, path, _, _ in listener.requests]
    assert "/health/liveliness" in paths and "/model/info" in paths
    assert listener.received(MASTER) == ["/health/readiness/details", "/model/info"]


def test_only_staff_with_the_address_permission_may_set_a_models_api_base(
    staff_with: Callable[..., Client],
    litellm_server: LiteLLMServer,
    litellm_sim: LiteLLMSimulator,
    listener: Listener,
) -> None:
    form = {
        "server": litellm_server.pk,
        "model_name": "gpt-4o",
        "provider_model": "openai/gpt-4o",
        "api_key_env": "OPENAI_API_KEY",
        "api_base": listener.url,
    }
    staff = staff_with("litellm.view_litellmmodel", "litellm.add_litellmmodel")
    response = staff.post(reverse("admin:litellm_litellmmodel_add"), form)
    assert "may set an API base: LiteLLM sends the provider key there" in response.content.decode()
    allowed = staff_with(
        "litellm.view_litellmmodel", "litellm.add_litellmmodel", ADDRESS, email="b@example.com"
    )
    response = allowed.post(
        reverse("admin:litellm_litellmmodel_add"), {**form, "api_base": "javascript:alert(1)"}
    )
    assert "is not an http:// or https:// address" in response.content.decode()
    assert litellm_sim.calls[("POST", "/model/new")] == 0 and listener.requests == []


# --- Item 2: LibreChat ----------------------------------------------------------------------------


@pytest.fixture
def chat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        yield simulator


@pytest.fixture
def chat_server(chat_sim: LibreChatSimulator, db: None) -> LibreChatServer:
    return LibreChatServer.objects.create(
        name="librechat-api", api_url=chat_sim.base_url, public_url="https://chat.example.com"
    )


def ready_account(server: LibreChatServer, email: str) -> LibreChatAccount:
    person = User.objects.create_user(email=email, password=None, name="Ann Example")
    account = account_create(person=person, server=server)
    assert account is not None
    assert account_provision(account_id=account.pk).status == "ready"
    return account


def expire_session(account: LibreChatAccount) -> None:
    """The access token ran out: the next use refreshes (sends the refresh token) or logs in."""
    LibreChatSession.objects.filter(account=account, revoked_at__isnull=True).update(
        access_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def chat_form(server: LibreChatServer, **changes: str) -> dict[str, str]:
    return {
        "name": server.name,
        "api_url": server.api_url,
        "public_url": server.public_url,
        "network": server.network,
        "accepts_new_accounts": "on",
        **changes,
    }


def test_people_s_librechat_credentials_go_only_to_a_confirmed_address(
    staff_with: Callable[..., Client], chat_server: LibreChatServer, listener: Listener
) -> None:
    ann = ready_account(chat_server, "ann@example.com")
    password = ann.password.reveal()
    refresh = LibreChatSession.objects.get(account=ann).refresh_token.reveal()
    change = reverse("admin:librechat_librechatserver_change", args=[chat_server.pk])

    # Only "change LibreChat server": the address is read-only, the POST cannot move it.
    editor = staff_with("librechat.view_librechatserver", "librechat.change_librechatserver")
    editor.post(change, chat_form(chat_server, api_url=listener.url))
    chat_server.refresh_from_db()
    assert chat_server.api_url != listener.url

    # With the permission the address moves, but nothing of anyone's follows until confirmed.
    owner = staff_with(
        "librechat.view_librechatserver",
        "librechat.change_librechatserver",
        CHAT_ADDRESS,
        email="o@example.com",
    )
    assert owner.post(change, chat_form(chat_server, api_url=listener.url)).status_code == 302
    chat_server.refresh_from_db()
    assert chat_server.api_url == listener.url and not chat_server.address_confirmed
    expire_session(ann)
    with pytest.raises(AddressUnconfirmed):
        session_access_token(account=ann)
    bob = User.objects.create_user(email="bob@example.com", password=None, name="Bob")
    bob_account = account_create(person=bob, server=chat_server)
    assert bob_account is not None
    assert account_provision(account_id=bob_account.pk).status == "waiting"
    bob_account.refresh_from_db()
    assert bob_account.status == AccountStatus.WAITING and bob_account.status_note == CONFIRM_NOTE
    assert "confirm" in bob_account.last_error and bob_account.next_attempt_at is not None
    assert listener.requests == []  # no password, token or refresh cookie reached it
    assert password and refresh and not listener.received(password) and not listener.received(refresh)
    page = owner.get(reverse("admin:librechat_librechatserver_changelist")).content.decode()
    assert "NOT confirmed" in page

    # Only the permission confirms; the confirmation is in the admin history.
    changelist = reverse("admin:librechat_librechatserver_changelist")
    confirm = {"action": "confirm_address", "_selected_action": [chat_server.pk], "post": "yes"}
    editor.post(changelist, confirm, follow=True)
    chat_server.refresh_from_db()
    assert not chat_server.address_confirmed
    owner.post(changelist, confirm, follow=True)
    chat_server.refresh_from_db()
    assert chat_server.address_confirmed
    entry = LogEntry.objects.get(object_id=str(chat_server.pk), change_message__startswith="Confirmed")
    assert entry.user.email == "o@example.com" and listener.url in entry.change_message
    # From now on the (trusted) new address gets the calls: the waiting rows went on.
    account_provision(account_id=bob_account.pk)
    assert listener.received(bob_account.password.reveal())


def test_a_new_librechat_server_takes_the_address_permission(
    staff_with: Callable[..., Client], listener: Listener
) -> None:
    editor = staff_with("librechat.view_librechatserver", "librechat.add_librechatserver")
    response = editor.post(
        reverse("admin:librechat_librechatserver_add"),
        {"name": "mine", "api_url": listener.url, "network": "backend-dev", "accepts_new_accounts": "on"},
    )
    assert response.status_code == 403 and not LibreChatServer.objects.exists()


# --- Item 9: http(s) only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "JavaScript://chat.example.com/%0aalert(1)", "data:text/html,x"],
)
def test_librechats_public_url_must_be_http_or_https(
    staff_with: Callable[..., Client], chat_server: LibreChatServer, url: str
) -> None:
    owner = staff_with("librechat.view_librechatserver", "librechat.change_librechatserver", CHAT_ADDRESS)
    change = reverse("admin:librechat_librechatserver_change", args=[chat_server.pk])
    response = owner.post(change, chat_form(chat_server, public_url=url))
    assert (
        response.status_code == 200 and "is not an http:// or https:// address" in response.content.decode()
    )
    chat_server.refresh_from_db()
    assert chat_server.public_url == "https://chat.example.com"


def test_a_stored_javascript_url_is_never_a_link_on_me(chat_server: LibreChatServer) -> None:
    ann = ready_account(chat_server, "ann@example.com")
    LibreChatServer.objects.filter(pk=chat_server.pk).update(public_url="javascript:alert(1)")
    User.objects.filter(pk=ann.person_id).update(email_verified_at=timezone.now(), approved_at=timezone.now())
    client = Client()
    client.force_login(ann.person)
    page = client.get(reverse("access:me")).content.decode()
    assert "ready" in page and "ask staff for LibreChat" in page
    assert "javascript:" not in page


def test_a_webhook_url_must_be_http_or_https(staff_with: Callable[..., Client]) -> None:
    staff = staff_with("connectivity.view_alertchannel", "connectivity.add_alertchannel")
    response = staff.post(
        reverse("admin:connectivity_alertchannel_add"),
        {"name": "hook", "kind": "webhook", "new_webhook_url": "ftp://hooks.example.com/x", "enabled": "on"},
    )
    assert "is not an http:// or https:// address" in response.content.decode()


def test_the_litellm_url_pasted_into_librechat_yaml_must_be_http_or_https(
    staff_with: Callable[..., Client], chat_server: LibreChatServer, litellm_server: LiteLLMServer
) -> None:
    plan = KeyPlan.objects.create(name="standard")
    pairing = Pairing.objects.create(
        librechat_server=chat_server, litellm_server=litellm_server, default_plan=plan
    )
    staff = staff_with("access.view_pairing", "access.change_pairing", ADDRESS)
    form = {
        "librechat_server": chat_server.pk,
        "litellm_server": litellm_server.pk,
        "endpoint_name": "LiteLLM",
        "default_plan": plan.pk,
        "litellm_url_for_librechat": "javascript:alert(1)",
    }
    response = staff.post(reverse("admin:access_pairing_change", args=[pairing.pk]), form)
    assert "is not an http:// or https:// address" in response.content.decode()
    pairing.refresh_from_db()
    assert pairing.litellm_url_for_librechat == ""


# --- Item 10: no lookups on ciphertext ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changelist", "param"),
    [
        ("admin:litellm_litellmserver_changelist", "master_key__startswith"),
        ("admin:litellm_virtualkey_changelist", "raw_key__startswith"),
        ("admin:litellm_litellmserver_changelist", "master_key__gt"),
        ("admin:litellm_litellmserver_changelist", "master_key__lower__startswith"),
    ],
)
def test_view_only_staff_cannot_read_ciphertext_through_a_changelist_filter(
    staff_with: Callable[..., Client], key: VirtualKey, changelist: str, param: str
) -> None:
    VirtualKey.objects.filter(pk=key.pk).update(raw_key=key.raw_key or "sk-kept-for-the-test-0123456789")
    staff = staff_with("litellm.view_litellmserver", "litellm.view_virtualkey")
    url = reverse(changelist)
    # Every Fernet token starts with "gAAAAA": a working filter tells a right guess from a wrong one.
    right = staff.get(url, {param: "gAAAAA"})
    wrong = staff.get(url, {param: "zzzzzz"})
    assert right.status_code == wrong.status_code == 302  # the admin's "?e=1": a refused lookup
    assert right["Location"] == wrong["Location"]
    assert staff.get(right["Location"]).status_code == 200


def test_encrypted_fields_allow_isnull_and_nothing_else(litellm_server: LiteLLMServer) -> None:
    assert LiteLLMServer.objects.filter(master_key__isnull=False).get() == litellm_server
    for lookup in ("startswith", "exact", "contains", "in", "gt", "regex"):
        value: Any = ["x"] if lookup == "in" else "gAAAAA"
        with pytest.raises(FieldError):
            list(LiteLLMServer.objects.filter(**{f"master_key__{lookup}": value}))
    with pytest.raises(FieldError):
        list(LibreChatSession.objects.filter(account__password__startswith="gAAAAA"))
