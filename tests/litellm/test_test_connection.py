"""LiteLLM's "Test connection" explains: a rejected master key is named as such (the simulator's
401 and the REAL proxy's 400 no_db_connection), an unreachable proxy gets connectivity's
diagnosis, fix and working alternative, and the master key goes only to the configured address
(a listener on the alternative records what it receives)."""

from __future__ import annotations

import hashlib
import html
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from integrations.litellm import servers
from integrations.litellm.models import CheckStatus, LiteLLMServer
from portal.accounts.models import User
from portal.connectivity.models import Network
from tests.litellm.conftest import MASTER, NETWORK, RealProxy
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker

WRONG_KEY = "sk-wrong-" + "k" * 32


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def on_the_host(network: str = NETWORK, alternatives: str = "") -> Network:
    """The network's worker runs on this machine (these tests do), trying only listed hosts."""
    row, _ = Network.objects.get_or_create(name=network)
    row.worker_location, row.guess_alternatives, row.alternative_hosts = "host", False, alternatives
    row.save()
    return row


def server_at(base_url: str, key: str) -> LiteLLMServer:
    server = LiteLLMServer(name="gateway", base_url=base_url, network=NETWORK)
    server.master_key = key
    server.save()
    return server


def press_test_connection(staff: Client, server: LiteLLMServer) -> str:
    response = staff.post(reverse("admin:litellm_litellmserver_test", args=[server.pk]), follow=True)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_simulators_401_for_a_wrong_master_key_is_named(
    staff: Client, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    on_the_host()
    server = server_at(sim.base_url, WRONG_KEY)
    text = press_test_connection(staff, server)
    assert "gateway: reachable, but its credential was rejected: LiteLLM at" in text
    assert "rejected the master key (HTTP 401" in text
    assert "Fix: Enter this proxy's master key" in text
    assert "not reachable" not in text and WRONG_KEY not in text and MASTER not in text
    # LiteLLM's 401 echoes the key it got (abbreviated) and its SHA-256: the page shows neither.
    wrong_hash = hashlib.sha256(WRONG_KEY.encode()).hexdigest()
    assert "Key Hash" not in text and wrong_hash not in text and "Received API Key" not in text
    assert "answers, master key rejected" in text  # the row's status, on the same page
    server.refresh_from_db()
    assert (
        server.check_status == CheckStatus.KEY_REJECTED
        and "rejected the master key" in server.check_diagnosis
    )


@pytest.mark.real_litellm
def test_the_real_proxys_400_no_db_connection_for_a_wrong_master_key_is_named(
    staff: Client, real_litellm: RealProxy, net_worker: CeleryWorker
) -> None:
    on_the_host()
    server = server_at(real_litellm.base_url + "/v1", WRONG_KEY)
    text = press_test_connection(staff, server)
    assert "gateway: reachable, but its credential was rejected" in text
    assert "rejected the master key (HTTP 400: No connected db.)" in text
    assert WRONG_KEY not in text and real_litellm.master_key not in text


def test_the_right_key_lists_the_models_discovered(
    staff: Client, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    on_the_host()
    text = press_test_connection(staff, server_at(sim.base_url, MASTER))
    assert "gateway: Connection successful: LiteLLM" in text
    assert "Models: claude-mock, gpt-4o-mock." in text


def test_an_unreachable_proxy_gets_the_diagnosis_and_its_fix(
    staff: Client, unused_tcp_port: int, net_worker: CeleryWorker
) -> None:
    on_the_host()
    text = press_test_connection(staff, server_at(f"http://127.0.0.1:{unused_tcp_port}", MASTER))
    assert (
        f"gateway: not reachable from {NETWORK}: Nothing on this host listens on 127.0.0.1:{unused_tcp_port}"
        in text
    )
    assert "Fix: Start the service, or use the port it listens on" in text


class Listener:
    """A plain socket server on `host:port` that answers LiteLLM's liveliness, or never
    answers (`silent`), and keeps every byte it was sent."""

    def __init__(self, host: str, port: int = 0, *, silent: bool = False) -> None:
        self.sock = socket.create_server((host, port))
        self.port = self.sock.getsockname()[1]
        self.silent = silent
        self.received = b""
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            if self.silent:
                continue  # accepted, never answered
            conn.settimeout(2)
            try:
                self.received += conn.recv(65536)
                body = b'"I\'m alive!"'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.open:
            conn.close()


@pytest.fixture
def alternative(unused_tcp_port: int) -> Iterator[Listener]:
    # 127.0.0.3 is this machine's loopback too, but another host to the finder.
    listener = Listener("127.0.0.3", unused_tcp_port)
    yield listener
    listener.close()


@pytest.mark.django_db
def test_the_master_key_never_reaches_an_alternative_address(alternative: Listener) -> None:
    on_the_host(alternatives="127.0.0.3")
    server = server_at(f"http://127.0.0.1:{alternative.port}", MASTER)  # nothing listens there

    check = servers.server_check(server=server)

    assert not check.reachable and not check.credential_rejected
    assert f"From {NETWORK}, http://127.0.0.3:{alternative.port}/health/liveliness answers." in check.fix
    # The alternative was asked, for the keyless path only, and got no credential at all.
    assert alternative.received.startswith(b"GET /health/liveliness HTTP/1.1\r\n")
    assert (
        b"authorization" not in alternative.received.lower() and MASTER.encode() not in alternative.received
    )
    assert MASTER not in check.diagnosis + check.fix


def test_a_proxy_that_never_answers_is_explained_within_the_admins_wait(
    staff: Client, net_worker: CeleryWorker
) -> None:
    on_the_host()
    silent = Listener("127.0.0.1", silent=True)
    try:
        started = time.monotonic()
        text = press_test_connection(staff, server_at(f"http://127.0.0.1:{silent.port}", MASTER))
        seconds = time.monotonic() - started
    finally:
        silent.close()
    assert "gateway: not reachable from" in text and "is a worker consuming" not in text
    assert seconds < 5.0, seconds
