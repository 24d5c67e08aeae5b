"""LibreChat's server page has its "Test connection": run by the worker on the server's network
(a real worker), it shows connectivity's diagnosis and fix when /health does not answer, and
what /api/config says about registration when it does."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from integrations.librechat.models import LibreChatServer
from portal.accounts.models import User
from portal.connectivity.models import Network
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CHAT_NETWORK, CeleryWorker


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def chat_at(api_url: str) -> LibreChatServer:
    server = LibreChatServer.objects.create(name="chat", api_url=api_url, network=CHAT_NETWORK)
    # The worker runs on this machine, as these tests do; only listed hosts are tried.
    Network.objects.filter(name=CHAT_NETWORK).update(worker_location="host", guess_alternatives=False)
    return server


def press_test_connection(staff: Client, server: LibreChatServer) -> str:
    response = staff.post(reverse("admin:librechat_librechatserver_test", args=[server.pk]), follow=True)
    assert response.redirect_chain == [
        (reverse("admin:librechat_librechatserver_change", args=[server.pk]), 302)
    ]
    return html.unescape(response.content.decode())


def test_the_server_page_has_a_test_connection_button(staff: Client, sim: LibreChatSimulator) -> None:
    server = chat_at(sim.base_url)
    page = staff.get(reverse("admin:librechat_librechatserver_change", args=[server.pk])).content.decode()
    assert f'action="{reverse("admin:librechat_librechatserver_test", args=[server.pk])}"' in page
    assert ">Test connection</button>" in page


def test_it_shows_the_registration_settings(
    staff: Client, sim: LibreChatSimulator, start_worker: Callable[[], CeleryWorker]
) -> None:
    start_worker()
    server = chat_at(sim.base_url)
    text = press_test_connection(staff, server)
    assert (
        f"chat: LibreChat at {sim.base_url} answers; ready for new accounts. "
        "Settings: registration: open; email login: on; password reset: "
    ) in text
    assert LogEntry.objects.filter(object_id=str(server.pk), change_message="Tested the connection").exists()

    sim.configure(allow_registration=False)
    text = press_test_connection(staff, server)
    assert "registration is closed (ALLOW_REGISTRATION)" in text and "registration: closed" in text
    assert "Fix: Set ALLOW_REGISTRATION=true in LibreChat's .env and restart it." in text


def test_an_unreachable_librechat_gets_the_diagnosis_and_its_fix(
    staff: Client, unused_tcp_port: int, start_worker: Callable[[], CeleryWorker]
) -> None:
    start_worker()
    text = press_test_connection(staff, chat_at(f"http://127.0.0.1:{unused_tcp_port}"))
    assert (
        f"chat: not reachable from {CHAT_NETWORK}: Nothing on this host listens on 127.0.0.1:{unused_tcp_port}"
        in text
    )
    assert "Fix: Start the service, or use the port it listens on" in text


def test_staff_who_may_only_view_cannot_press_it(transactional_db: None, sim: LibreChatSimulator) -> None:
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(email="view@example.com", password=None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_librechatserver"))
    client = Client()
    client.force_login(viewer)
    server = chat_at(sim.base_url)
    assert client.post(reverse("admin:librechat_librechatserver_test", args=[server.pk])).status_code == 403
    assert not LogEntry.objects.filter(change_message="Tested the connection").exists()
