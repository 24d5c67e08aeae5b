"""HTTP(S) probes: one GET over a fresh connection, the status, keyword and LiteLLM readiness checked."""

from __future__ import annotations

import http.client
import socket
import ssl
import time

from portal.connectivity.probes.attempt import Attempt, Failure, excerpt, json_field
from portal.connectivity.probes.spec import MAX_BODY_BYTES, ErrorKind, Phase, http_request
from portal.connectivity.probes.tls import confirm_tls, start_tls

# What TLS servers answer to plain HTTP: nginx, and Go's net/http (Traefik, Caddy).
_PLAIN_TO_TLS_BODIES = (
    "plain http request was sent to https port",
    "client sent an http request to an https server",
)


def probe_http(attempt: Attempt) -> str:
    spec = attempt.spec
    sock: socket.socket = attempt.connect(attempt.resolve())
    if spec.scheme == "https":
        sock = start_tls(attempt, sock)
    with sock:
        try:
            status, reason, server, body = _http_exchange(attempt, sock)
        except Failure as failure:
            if failure.kind is ErrorKind.PROTOCOL_ERROR and spec.scheme == "http" and confirm_tls(attempt):
                raise Failure(
                    ErrorKind.PLAIN_TO_TLS,
                    f"{attempt.where()} did not answer a plain-HTTP request but completes a TLS "
                    "handshake: it expects https://",
                ) from None
            raise
    attempt.phase = Phase.CHECK
    attempt.http_status, attempt.http_server = status, server
    text = body.decode("utf-8", errors="replace")
    lowered = text.lower()
    if status == 400 and spec.scheme == "http" and any(m in lowered for m in _PLAIN_TO_TLS_BODIES):
        attempt.body_excerpt = excerpt(text)
        raise Failure(
            ErrorKind.PLAIN_TO_TLS,
            f"{attempt.where()} answered HTTP 400 to plain HTTP: it is a TLS port, use https://",
        )
    if not (status in spec.expected_status if spec.expected_status else 200 <= status < 400):
        attempt.body_excerpt = excerpt(text)
        raise Failure(ErrorKind.HTTP_STATUS, f"HTTP {status} {reason} from {spec.url}".rstrip())
    if spec.readiness_requires_db:
        db = json_field(text, "db")
        if db is None:
            attempt.body_excerpt = excerpt(text)
            raise Failure(
                ErrorKind.PROTOCOL_ERROR,
                f'{spec.url} answered HTTP {status} without a JSON "db" field',
            )
        if str(db).lower() != "connected":
            attempt.body_excerpt = excerpt(text)
            raise Failure(
                ErrorKind.DB_NOT_CONNECTED,
                f'{spec.url} answered HTTP {status} but its database is "{db}"',
            )
    if spec.keyword and spec.keyword not in text:
        attempt.body_excerpt = excerpt(text)
        raise Failure(
            ErrorKind.KEYWORD_MISSING,
            f"{spec.url} answered HTTP {status} but the body does not contain {spec.keyword!r}",
        )
    return f"HTTP {status} from {spec.url} in {(time.monotonic() - attempt.started) * 1000:.0f} ms"


def _http_exchange(attempt: Attempt, sock: socket.socket) -> tuple[int, str, str | None, bytes]:
    attempt.phase = Phase.ANSWER
    where = attempt.where()
    wait = attempt.remaining()
    sock.settimeout(wait)
    started = time.monotonic()
    try:
        sock.sendall(http_request(attempt.spec))
        if not isinstance(sock, ssl.SSLSocket):
            first = sock.recv(5, socket.MSG_PEEK)
            if not first:
                raise Failure(ErrorKind.PROTOCOL_ERROR, f"{where} closed the connection without answering")
            if first[:1] in (b"\x15", b"\x16") and first[1:2] == b"\x03":
                raise Failure(
                    ErrorKind.PLAIN_TO_TLS,
                    f"{where} answered a plain-HTTP request with TLS: it expects https://",
                )
        response = http.client.HTTPResponse(sock, method="GET")
        response.begin()
        attempt.lap("first_byte", started)
        body = response.read(MAX_BODY_BYTES)
        attempt.lap("answer", started)
        return response.status, response.reason, response.getheader("Server"), body
    except TimeoutError:
        raise Failure(
            ErrorKind.TIMEOUT,
            f"{where} accepted the connection but sent no answer within {wait:.1f} s",
        ) from None
    except (http.client.HTTPException, ConnectionResetError, BrokenPipeError) as exc:
        raise Failure(
            ErrorKind.PROTOCOL_ERROR,
            f"{where} did not answer with HTTP ({type(exc).__name__}: {exc})",
        ) from None
    except ssl.SSLError as exc:
        raise Failure(ErrorKind.TLS_ERROR, f"TLS with {where} failed: {exc}") from None
