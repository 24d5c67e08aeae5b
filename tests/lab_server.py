"""Tiny stand-in services for probe tests: an HTTP server with canned answers, and a TCP
listener that accepts and never answers.

Used in-process (threads) by the loopback tests and as a script inside network namespaces:
    python tests/lab_server.py --kind http --host 0.0.0.0 --port 4000 --responses '{...}'
The script prints `ready <port>` once it listens.
"""

from __future__ import annotations

import argparse
import json
import socketserver
import ssl
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# path -> (status, body) or (status, body, {header: value})
Responses = Mapping[str, Any]

NOT_FOUND = (404, '{"message":"Endpoint not found"}', {"Content-Type": "application/json"})


class _Handler(BaseHTTPRequestHandler):
    server: LabHTTPServer
    protocol_version = "HTTP/1.1"

    def handle_one_request(self) -> None:
        # http.server waits for a line end, so a TLS ClientHello (binary, often without one)
        # would hang it; uvicorn (LiteLLM) and node (LibreChat) answer 400 at once, as here.
        first = self.rfile.peek(1)[:1]  # type: ignore[attr-defined]  # a BufferedReader
        if first and not first.isalpha():
            self.wfile.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request"
            )
            self.close_connection = True
            return
        super().handle_one_request()

    def do_GET(self) -> None:
        answer = self.server.responses.get(self.path.split("?")[0], NOT_FOUND)
        status, body = answer[0], answer[1]
        headers = answer[2] if len(answer) > 2 else {}
        data = body.encode() if isinstance(body, str) else bytes(body)
        self.send_response_only(status)  # no "Server: BaseHTTP": the answer may set its own
        self.send_header("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LabHTTPServer(ThreadingHTTPServer):
    """HTTP (or HTTPS with `tls`) on a real socket; the TLS handshake runs in the request
    thread, so a client that never completes it does not block the others."""

    daemon_threads = True
    request_queue_size = 256  # a sweep opens dozens of connections at once

    def __init__(
        self,
        address: tuple[str, int],
        responses: Responses,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.responses = dict(responses)
        self.tls = tls
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request.settimeout(5)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a probe that hangs up early is part of the test, not an error to print

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class SilentListener(socketserver.ThreadingTCPServer):
    """Accepts connections and never answers: the hung service, the wrong port."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int]) -> None:
        self.stopped = threading.Event()
        super().__init__(address, socketserver.BaseRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.stopped.wait()

    def server_close(self) -> None:
        self.stopped.set()
        super().server_close()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def start_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return thread


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["http", "tcp"], default="http")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--responses", default="{}")
    args = parser.parse_args(argv)
    server: socketserver.TCPServer
    if args.kind == "http":
        server = LabHTTPServer((args.host, args.port), json.loads(args.responses))
    else:
        server = SilentListener((args.host, args.port))
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
