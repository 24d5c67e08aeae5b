"""integrations/http.py against real local sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.http import (
    ErrorKind,
    VendorBadResponse,
    VendorError,
    VendorHTTP,
    VendorHTTPError,
    VendorTimeout,
    VendorUnreachable,
    parse_retry_after,
)

Handler = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    def __init__(self, handle: Handler) -> None:
        self.hits: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                outer.hits.append((self.command, self.path, dict(self.headers)))
                handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], _Server]]:
    servers: list[_Server] = []

    def start(handle: Handler) -> _Server:
        server = _Server(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def client(url: str, **kw: object) -> VendorHTTP:
    return VendorHTTP(vendor="Acme", base_url=url, connect_timeout=1, read_timeout=1, backoff_factor=0, **kw)  # type: ignore[arg-type]


def test_it_parses_json_and_sends_its_user_agent(serve) -> None:
    server = serve(reply(200, b'{"ok": true}'))
    assert client(server.url).json("GET", "/x") == {"ok": True}
    assert server.hits[0][2]["User-Agent"].startswith("portal/")


def test_it_calls_a_refused_port_refused_and_retryable(unused_tcp_port: int) -> None:
    with pytest.raises(VendorUnreachable) as caught:
        client(f"http://127.0.0.1:{unused_tcp_port}").request("GET", "/health")
    error = caught.value
    assert error.kind == ErrorKind.REFUSED and error.retryable
    assert f"Connection refused by 127.0.0.1:{unused_tcp_port}" in str(error)


def test_it_times_out_on_a_listener_that_never_answers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel accepts; nobody ever reads or answers
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(VendorTimeout) as caught:
            client(f"http://127.0.0.1:{port}", read_retries=0).request("POST", "/key/generate", json_body={})
        assert time.monotonic() - started < 3
    finally:
        listener.close()
    assert caught.value.kind == ErrorKind.READ_TIMEOUT and caught.value.retryable
    assert "sent no answer within 1 s" in str(caught.value)


def test_it_still_calls_it_a_timeout_after_retrying_an_idempotent_read() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(VendorTimeout) as caught:
            client(f"http://127.0.0.1:{port}", read_retries=1).request("GET", "/key/list")
    finally:
        listener.close()
    assert caught.value.kind == ErrorKind.READ_TIMEOUT and caught.value.retryable
    assert "tried again once" in str(caught.value)


def test_it_marks_500_retryable_and_carries_the_vendor_message(serve) -> None:
    server = serve(reply(500, json.dumps({"error": {"message": "DB not connected"}}).encode()))
    with pytest.raises(VendorHTTPError) as caught:
        client(server.url).request("POST", "/key/generate", json_body={"a": 1})
    error = caught.value
    assert error.status == 500 and error.retryable
    assert error.vendor_message == "DB not connected"
    assert "Acme answered 500" in str(error) and "DB not connected" in str(error)
    assert len(server.hits) == 1  # a POST is never resent on a status


def test_it_keeps_retry_after_on_429(serve) -> None:
    server = serve(reply(429, b'{"message":"Too many"}', {"Retry-After": "42"}))
    with pytest.raises(VendorHTTPError) as caught:
        client(server.url).request("GET", "/x")
    assert caught.value.retryable and caught.value.retry_after == 42.0


def test_it_reads_an_http_date_retry_after() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_it_marks_404_permanent(serve) -> None:
    server = serve(reply(404, b'{"detail":"Not Found"}'))
    with pytest.raises(VendorHTTPError) as caught:
        client(server.url).request("GET", "/nope")
    assert caught.value.status == 404 and not caught.value.retryable


def test_a_vendor_may_mark_a_known_5xx_permanent(serve) -> None:
    server = serve(reply(500, b'{"error":{"message":"Enterprise feature"}}'))
    api = client(server.url, classify=lambda r, msg: False if "Enterprise" in msg else None)
    with pytest.raises(VendorHTTPError) as caught:
        api.request("POST", "/key/regenerate")
    assert not caught.value.retryable


def test_it_explains_a_body_that_is_not_json(serve) -> None:
    server = serve(reply(200, b"<html>Bad gateway page</html>"))
    with pytest.raises(VendorBadResponse) as caught:
        client(server.url).json("GET", "/v1/models")
    assert caught.value.kind == ErrorKind.INVALID_JSON and not caught.value.retryable
    assert "not JSON" in str(caught.value) and "Bad gateway page" in str(caught.value)


def test_it_refuses_a_huge_body(serve) -> None:
    server = serve(reply(200, b"x" * (2 * 1024 * 1024)))
    with pytest.raises(VendorBadResponse) as caught:
        client(server.url, max_body_bytes=1024 * 1024).request("GET", "/big")
    assert caught.value.kind == ErrorKind.TOO_LARGE


def test_it_reports_a_dropped_connection_without_resending_a_post(serve) -> None:
    def drop(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    server = serve(drop)
    with pytest.raises(VendorUnreachable) as caught:
        client(server.url).request("POST", "/key/generate", json_body={})
    assert caught.value.kind == ErrorKind.DROPPED and caught.value.retryable
    assert len(server.hits) == 1


def test_it_retries_an_idempotent_read_once_after_a_drop(serve) -> None:
    calls = {"n": 0}

    def flaky(h: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
        else:
            reply(200, b"[]")(h)

    server = serve(flaky)
    assert client(server.url).json("GET", "/list") == []
    assert len(server.hits) == 2


def test_messages_never_hold_credentials_or_query_strings(unused_tcp_port: int) -> None:
    api = client(
        f"http://user:hunter2@127.0.0.1:{unused_tcp_port}", headers={"Authorization": "Bearer sk-topsecret"}
    )
    with pytest.raises(VendorError) as caught:
        api.request("GET", "/key/info", params={"key": "sk-topsecret"})
    text = str(caught.value) + repr(caught.value.__dict__)
    assert "hunter2" not in text and "sk-topsecret" not in text


def test_errors_survive_pickling_with_their_flags(serve) -> None:
    import pickle

    server = serve(reply(429, b"{}", {"Retry-After": "5"}))
    with pytest.raises(VendorHTTPError) as caught:
        client(server.url).request("GET", "/x")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.status, copy.retryable, copy.retry_after, str(copy)) == (429, True, 5.0, str(caught.value))
