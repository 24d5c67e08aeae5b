"""A webhook receiver on loopback for tests: records each POST's path and JSON body, answers
`status` (200 unless told otherwise)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class WebhookReceiver(ThreadingHTTPServer):
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T000/B000/secret-token-xyz"


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A webhook listener on loopback; `.posts` holds what it received."""
    server = WebhookReceiver()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown
    yield server
    server.shutdown()
    server.server_close()
