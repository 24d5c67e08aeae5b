"""Confirmation before harm on the key admin, keys stuck on a dead server, the warning before
creating on a server whose last check failed, and waiting words that tell a missing worker
from a slow LiteLLM: a real worker, the simulator (or a socket that never answers) as LiteLLM."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from integrations.litellm import key_work, keys
from integrations.litellm.models import CheckStatus, KeyStatus, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.litellm.conftest import MASTER, stored_key
from tests.litellm.test_admin_keys import add_form, discover
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker

CHANGELIST = "admin:litellm_virtualkey_changelist"


@pytest.fixture
def staff(transactional_db: None) -> Client:
    client = Client()
    client.force_login(
        User.objects.create_superuser(email="ops@example.com", password="a long test password")
    )
    return client


def made_key(server: LiteLLMServer, alias: str = "team-a") -> VirtualKey:
    key = keys.key_create(server=server, alias=alias, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    return key


def server_at(url: str, *, name: str, network: str = "backend-dev") -> LiteLLMServer:
    row = LiteLLMServer(name=name, base_url=url, network=network)
    row.master_key = MASTER
    row.save()
    return row


def texts(response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


def test_the_key_page_button_asks_first_and_only_post_yes_blocks(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    key = made_key(tx_server)
    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk])).content.decode()
    block = reverse("admin:litellm_virtualkey_do", args=[key.pk, "block"])
    assert f'href="{block}"' in change and "Unblock" not in change

    asked = staff.get(block)
    page = asked.content.decode()
    assert asked.status_code == 200 and f"Block: {key}?" in page
    assert "LiteLLM refuses every request made with these keys" in page and key.key_name in page
    assert staff.post(block).status_code == 200  # a POST without post=yes only shows the page again
    assert not stored_key(sim, key.token_hash)["blocked"]

    done = staff.post(block, {"post": "yes"})
    assert done.status_code == 302 and "block: Blocked in LiteLLM" in " ".join(texts(done))
    assert stored_key(sim, key.token_hash)["blocked"] is True


def test_the_list_action_lists_the_keys_and_does_nothing_without_post_yes(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(tx_server, "to-delete")
    chosen = {"action": "delete_action", "_selected_action": [key.pk], "index": "0"}
    page = staff.post(reverse(CHANGELIST), chosen).content.decode()
    assert "Delete in LiteLLM?" in page and "This cannot be undone" in page and "to-delete" in page
    assert f'name="_selected_action" value="{key.pk}"' in page and 'value="delete_action"' in page
    key.refresh_from_db()
    assert key.pending_action == "" and key.status == KeyStatus.ACTIVE and sim.key_count() == 1


def test_staff_without_the_permission_get_403_on_the_buttons(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key = made_key(tx_server)
    viewer = User.objects.create_user(
        email="view@example.com", password="a long test password", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_virtualkey"))
    changer = User.objects.create_user(
        email="change@example.com", password="a long test password", is_staff=True
    )
    changer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_virtualkey", "change_virtualkey"])
    )
    client = Client()
    client.force_login(viewer)
    for what in ("rotate", "block", "delete", "cancel"):
        url = reverse("admin:litellm_virtualkey_do", args=[key.pk, what])
        assert client.get(url).status_code == 403
        assert client.post(url, {"post": "yes"}).status_code == 403
    client.force_login(changer)  # may change keys, but deleting in LiteLLM takes the delete permission
    assert client.get(reverse("admin:litellm_virtualkey_do", args=[key.pk, "delete"])).status_code == 403
    key.refresh_from_db()
    assert key.pending_action == "" and key.status == KeyStatus.ACTIVE and sim.key_count() == 1


@pytest.fixture
def dead_server(transactional_db: None) -> LiteLLMServer:
    # Port 9 (discard) on loopback: nothing listens, every connection is refused at once.
    return server_at("http://127.0.0.1:9", name="litellm-gone")


def test_a_key_stuck_being_created_on_a_dead_server_can_be_cancelled(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    key = keys.key_create(server=dead_server, alias="stuck", enqueue=False)
    outcome = key_work.key_apply_pending(key_id=key.pk)  # what the worker does: refused, retried later
    assert outcome.ok is None
    fragment = staff.get(reverse("admin:litellm_virtualkey_pending", args=[key.pk])).content.decode()
    assert 'data-done="0"' in fragment and "LiteLLM did not answer try 1" in fragment

    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk])).content.decode()
    cancel = reverse("admin:litellm_virtualkey_do", args=[key.pk, "cancel"])
    assert f'href="{cancel}"' in change and "portal-refresh" in change
    page = staff.get(cancel).content.decode()
    assert "LiteLLM may still hold a key" in page and "the next sync of the server tells" in page

    done = staff.post(cancel, {"post": "yes"})
    assert done["Location"] == reverse(CHANGELIST)
    assert "next sync of the server finds it" in " ".join(texts(done))
    assert not VirtualKey.objects.filter(pk=key.pk).exists()
    gone = staff.get(reverse("admin:litellm_virtualkey_pending", args=[key.pk])).content.decode()
    assert 'data-done="1"' in gone  # an open page's refresh stops


def test_a_pending_block_on_a_dead_server_is_dropped_and_says_so(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    key = VirtualKey.objects.create(
        server=dead_server, key_alias="live", status=KeyStatus.ACTIVE, token_hash="c" * 64
    )
    keys.key_block(key=key, enqueue=False)
    staff.post(reverse(CHANGELIST), {"action": "cancel_action", "_selected_action": [key.pk], "post": "yes"})
    key.refresh_from_db()
    assert key.pending_action == "" and key.last_action == "block" and key.last_action_ok is False
    assert key.last_action_detail == keys.CANCELLED_ACTION
    with pytest.raises(ValueError, match="no pending work"):
        keys.key_cancel_pending(key=key)


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=0.5)
def test_creating_on_a_server_whose_last_check_failed_asks_first(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    dead_server.check_status, dead_server.checked_at = CheckStatus.FAILED, timezone.now()
    dead_server.check_diagnosis = "Connection refused by 127.0.0.1:9: nothing listens there"
    dead_server.save()
    discover(dead_server)
    form = add_form(dead_server, key_alias="anyway")

    asked = staff.post(reverse("admin:litellm_virtualkey_add"), form)
    page = asked.content.decode()
    assert asked.status_code == 200 and "Create the key on litellm-gone anyway?" in page
    assert f"last check failed at {dead_server.checked_at:%Y-%m-%d %H:%M} UTC" in page
    assert "nothing listens there" in page and 'name="key_alias" value="anyway"' in page
    assert not VirtualKey.objects.exists()

    made = staff.post(reverse("admin:litellm_virtualkey_add"), {**form, "post": "yes"})
    import re

    print(re.findall(r"errorlist.{0,300}", made.content.decode()))
    key = VirtualKey.objects.get()
    assert key.key_alias == "anyway" and key.status == KeyStatus.CREATING


@pytest.fixture
def silent_litellm(transactional_db: None) -> Iterator[LiteLLMServer]:
    """A LiteLLM that accepts connections and never answers (the kernel queues them)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield server_at(f"http://127.0.0.1:{listener.getsockname()[1]}", name="litellm-slow")
    listener.close()


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=1.5)
def test_the_waiting_words_tell_no_worker_from_a_slow_litellm(
    staff: Client, silent_litellm: LiteLLMServer, net_worker: CeleryWorker
) -> None:
    key = VirtualKey.objects.create(
        server=silent_litellm, key_alias="slow", status=KeyStatus.ACTIVE, token_hash="d" * 64
    )
    unworked = server_at(silent_litellm.base_url, name="litellm-prod", network="backend-prod")
    lonely = VirtualKey.objects.create(
        server=unworked, key_alias="lonely", status=KeyStatus.ACTIVE, token_hash="e" * 64
    )
    try:
        for row, expected in (
            (key, "a worker on net.backend-dev took it and is waiting for LiteLLM to answer"),
            (lonely, "waiting in the queue net.backend-prod: no worker heard on it ever"),
        ):
            response = staff.post(
                reverse(CHANGELIST), {"action": "refresh_action", "_selected_action": [row.pk], "post": "yes"}
            )
            message = texts(response)[-1]
            assert expected in message, message
            assert "is a worker consuming" not in message
    finally:
        net_worker.kill()  # its task waits on the silent socket: no warm shutdown
