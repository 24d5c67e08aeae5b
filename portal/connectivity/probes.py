"""Probes: one fresh connection per check, so name resolution, connect and TLS are seen.

Nothing here is pooled or retried: a probe answers "what happens to a new client right now,
from where this process runs", which a pooled session (kept-alive sockets, cached addresses,
automatic retries) would hide. `run_probe` never raises; every failure comes back as a
`ProbeOutcome` with an `ErrorKind` and a sentence that names the address.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

DEFAULT_TIMEOUT = 5.0
USER_AGENT = "portal-connectivity-probe/1"
MAX_BODY_BYTES = 64 * 1024
EXCERPT_CHARS = 200


class ProbeKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    DNS = "dns"
    POSTGRES = "postgres"
    REDIS = "redis"


class ErrorKind(StrEnum):
    DNS_FAILURE = "dns_failure"  # the name does not resolve
    REFUSED = "refused"  # something answered "nobody listens here" (RST, or no Unix socket)
    TIMEOUT = "timeout"  # no answer in time: see ProbeOutcome.phase for which step
    UNREACHABLE = "unreachable"  # no route, or nobody answers ARP for the address
    TLS_ERROR = "tls_error"  # handshake or certificate failure
    TLS_TO_PLAIN = "tls_to_plain"  # https:// to a port that speaks plain HTTP
    PLAIN_TO_TLS = "plain_to_tls"  # http:// to a port that speaks TLS
    HTTP_STATUS = "http_status"  # answered with a status outside expected_status
    KEYWORD_MISSING = "keyword_missing"
    DB_NOT_CONNECTED = "db_not_connected"  # LiteLLM /health/readiness: "db" is not "connected"
    AUTH_FAILED = "auth_failed"  # PostgreSQL or Redis refused the credentials
    SERVER_ERROR = "server_error"  # the server answered with an error of its own
    PROTOCOL_ERROR = "protocol_error"  # something answered, but not in the expected protocol
    OTHER = "other"


class Phase(StrEnum):
    """The step a probe was in when it stopped; tells a connect timeout from a silent service."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    ANSWER = "answer"
    CHECK = "check"


_DEFAULT_PORTS = {"http": 80, "https": 443, "postgres": 5432, "redis": 6379}
_URL_SCHEMES = {
    "http": ProbeKind.HTTP,
    "https": ProbeKind.HTTP,
    "tcp": ProbeKind.TCP,
    "dns": ProbeKind.DNS,
    "postgres": ProbeKind.POSTGRES,
    "postgresql": ProbeKind.POSTGRES,
    "redis": ProbeKind.REDIS,
}


@dataclass(frozen=True)
class ProbeSpec:
    """What to check. HTTP takes `url`; the other kinds take `host` and `port`.

    `host` may be an absolute path for PostgreSQL and Redis: a Unix socket directory
    (PostgreSQL) or socket file (Redis). `expected_status` empty means any 2xx or 3xx
    (redirects are not followed: a health path that redirects is reported as it is).
    """

    kind: ProbeKind
    url: str | None = None
    host: str | None = None
    port: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    expected_status: tuple[int, ...] = ()
    keyword: str | None = None
    readiness_requires_db: bool = False
    preset: str | None = None
    username: str | None = None
    database: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    ca_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ProbeKind(self.kind))
        object.__setattr__(self, "expected_status", tuple(int(s) for s in self.expected_status))
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout!r}")
        if self.kind is ProbeKind.HTTP:
            if not self.url:
                raise ValueError("an HTTP probe needs a url")
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {self.url!r}")
            if parts.password:
                raise ValueError("the url holds a password; pass it as password= (URLs are shown in reports)")
        elif self.url:
            raise ValueError(f"a {self.kind} probe takes host and port; see ProbeSpec.from_url")
        elif not self.host:
            raise ValueError(f"a {self.kind} probe needs a host")
        elif self.kind is ProbeKind.TCP and not self.port:
            raise ValueError("a TCP probe needs a port")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ProbeSpec:
        """Build a spec from `http(s)://`, `tcp://`, `dns://`, `postgres(ql)://` or `redis://`.

        Credentials in the URL move to `username`/`password`, so that `url` and `target`
        (which end up in logs and pages) never carry a password.
        """
        parts = urlsplit(url)
        kind = _URL_SCHEMES.get(parts.scheme)
        if kind is None:
            raise ValueError(f"unknown probe scheme in {url!r}")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if password is not None:
            options.setdefault("password", password)
        if username:
            options.setdefault("username", username)
        if kind is ProbeKind.HTTP:
            netloc = parts.netloc.rpartition("@")[2]
            return cls(kind=kind, url=urlunsplit(parts._replace(netloc=netloc)), **options)
        database = parts.path.lstrip("/") or None
        if database:
            options.setdefault("database", unquote(database))
        return cls(kind=kind, host=parts.hostname, port=parts.port, **options)

    @property
    def scheme(self) -> str:
        if self.kind is ProbeKind.HTTP:
            return urlsplit(self._url).scheme
        return self.kind.value

    @property
    def target_host(self) -> str:
        if self.kind is ProbeKind.HTTP:
            return urlsplit(self._url).hostname or ""
        return self.host or ""

    @property
    def target_port(self) -> int | None:
        if self.kind is ProbeKind.HTTP:
            return urlsplit(self._url).port or _DEFAULT_PORTS[self.scheme]
        if self.is_unix_socket:
            return None
        return self.port or _DEFAULT_PORTS.get(self.kind.value)

    @property
    def path(self) -> str:
        """The HTTP request target, percent-encoded where needed."""
        parts = urlsplit(self._url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return quote(target, safe="/?&=%:@!$'()*+,;~-._")

    @property
    def is_unix_socket(self) -> bool:
        return self.kind in (ProbeKind.POSTGRES, ProbeKind.REDIS) and (self.host or "").startswith("/")

    @property
    def target(self) -> str:
        """The target as shown to people: never a password."""
        if self.kind is ProbeKind.HTTP:
            return self._url
        user = f"{self.username}@" if self.username else ""
        if self.is_unix_socket:
            return f"{self.kind}://{user}{self.host}"
        port = self.target_port
        where = _bracket(self.target_host) + (f":{port}" if port else "")
        database = f"/{self.database}" if self.database else ""
        return f"{self.kind}://{user}{where}{database}"

    def with_host(self, host: str) -> ProbeSpec:
        """The same check (port, path, scheme, credentials) against another host."""
        if self.kind is not ProbeKind.HTTP:
            return replace(self, host=host)
        parts = urlsplit(self._url)
        netloc = _bracket(host) + (f":{parts.port}" if parts.port else "")
        return replace(self, url=urlunsplit(parts._replace(netloc=netloc)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the password (task arguments and results must not hold it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "password"}
        data["kind"] = self.kind.value
        data["expected_status"] = list(self.expected_status)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, password: str | None = None) -> ProbeSpec:
        known = {f.name for f in fields(cls)} - {"password"}
        values = {k: v for k, v in data.items() if k in known}
        values["expected_status"] = tuple(values.get("expected_status") or ())
        return cls(password=password, **values)

    @property
    def _url(self) -> str:
        assert self.url is not None
        return self.url


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    target: str
    latency_ms: float
    error_kind: ErrorKind | None = None
    phase: Phase | None = None  # where a failure happened; None when ok
    detail: str = ""
    resolved_addresses: tuple[str, ...] = ()
    connected_address: str | None = None
    http_status: int | None = None
    http_server: str | None = None  # the Server header: tells a CDN or proxy answering
    body_excerpt: str = ""  # start of the body when an HTTP check failed
    tls_days_left: int | None = None
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["resolved_addresses"] = list(self.resolved_addresses)
        data["timings_ms"] = dict(self.timings_ms)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeOutcome:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["resolved_addresses"] = tuple(values.get("resolved_addresses") or ())
        if values.get("error_kind"):
            values["error_kind"] = ErrorKind(values["error_kind"])
        if values.get("phase"):
            values["phase"] = Phase(values["phase"])
        return cls(**values)


@dataclass(frozen=True)
class Preset:
    """What a known service's health check looks like. Data only: no vendor client here."""

    kind: ProbeKind
    port: int
    path: str = ""
    keyword: str | None = None
    readiness_requires_db: bool = False
    service_names: tuple[str, ...] = ()  # names it usually has on a Docker network
    label: str = ""


# Health paths: contracts/litellm.md ("Health shapes") and contracts/librechat.md ("Health").
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "litellm_liveliness": Preset(
            kind=ProbeKind.HTTP,
            port=4000,
            path="/health/liveliness",  # answers 200 "I'm alive!" (a JSON string)
            keyword="alive",
            service_names=("litellm",),
            label="LiteLLM",
        ),
        "litellm_readiness": Preset(
            kind=ProbeKind.HTTP,
            port=4000,
            path="/health/readiness",  # 200 {"status": "healthy", "db": "connected" | ...}
            readiness_requires_db=True,
            service_names=("litellm",),
            label="LiteLLM",
        ),
        "librechat_health": Preset(
            kind=ProbeKind.HTTP,
            port=3080,
            path="/health",  # text OK; there is no /api/health
            keyword="OK",
            service_names=("librechat-api", "librechat"),
            label="LibreChat",
        ),
        "ollama_tags": Preset(
            kind=ProbeKind.HTTP,
            port=11434,
            path="/api/tags",
            keyword='"models"',
            service_names=("ollama",),
            label="Ollama",
        ),
        "postgres": Preset(
            kind=ProbeKind.POSTGRES, port=5432, service_names=("postgres", "db"), label="PostgreSQL"
        ),
        "redis": Preset(kind=ProbeKind.REDIS, port=6379, service_names=("redis",), label="Redis"),
    }
)


def spec_from_preset(
    name: str,
    host: str,
    *,
    port: int | None = None,
    scheme: str = "http",
    readiness_requires_db: bool | None = None,
    **options: Any,
) -> ProbeSpec:
    """A spec for a preset on `host`. LiteLLM readiness wants the database unless told
    otherwise (`readiness_requires_db=False` for a deployment without one)."""
    preset = PRESETS[name]
    port = port or preset.port
    if readiness_requires_db is None:
        readiness_requires_db = preset.readiness_requires_db
    if preset.kind is ProbeKind.HTTP:
        url = f"{scheme}://{_bracket(host)}:{port}{preset.path}"
        options.setdefault("keyword", preset.keyword)
        return ProbeSpec(
            kind=preset.kind,
            url=url,
            readiness_requires_db=readiness_requires_db,
            preset=name,
            **options,
        )
    return ProbeSpec(kind=preset.kind, host=host, port=port, preset=name, **options)


def run_probe(spec: ProbeSpec) -> ProbeOutcome:
    """Check `spec` once over fresh connections. Never raises."""
    attempt = _Attempt(spec)
    try:
        detail = _RUNNERS[spec.kind](attempt)
    except _Failure as failure:
        return attempt.outcome(failure)
    except Exception as exc:  # a probe reports, it never takes the sweep down
        return attempt.outcome(_Failure(ErrorKind.OTHER, f"{type(exc).__name__}: {exc}"))
    return attempt.outcome(None, detail)


class _Failure(Exception):
    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class _Attempt:
    """The state of one probe run: a single deadline shared by every step."""

    def __init__(self, spec: ProbeSpec) -> None:
        self.spec = spec
        self.started = time.monotonic()
        self.deadline = self.started + spec.timeout
        self.phase = Phase.RESOLVE
        self.timings: dict[str, float] = {}
        self.resolved: tuple[str, ...] = ()
        self.connected: str | None = None
        self.http_status: int | None = None
        self.http_server: str | None = None
        self.body_excerpt = ""
        self.tls_days_left: int | None = None

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Failure(
                ErrorKind.TIMEOUT,
                f"Gave up on {self.spec.target} after {self.spec.timeout:.1f} s ({self.phase})",
            )
        return left

    def lap(self, name: str, since: float) -> None:
        self.timings[f"{name}_ms"] = round((time.monotonic() - since) * 1000, 2)

    def where(self, ip: str | None = None) -> str:
        """`litellm:4000 (10.201.0.7)` for a name, `10.0.0.5:4000` for an address."""
        host, port = self.spec.target_host, self.spec.target_port
        if self.spec.is_unix_socket:
            return f"the Unix socket {host}"
        hostport = _bracket(host) + (f":{port}" if port else "")
        ip = ip or self.connected
        return hostport if not ip or ip == host else f"{hostport} ({ip})"

    def outcome(self, failure: _Failure | None, detail: str = "") -> ProbeOutcome:
        password = self.spec.password
        text = failure.detail if failure else detail
        excerpt = self.body_excerpt
        if password:
            text = text.replace(password, "***")
            excerpt = excerpt.replace(password, "***")
        return ProbeOutcome(
            ok=failure is None,
            target=self.spec.target,
            latency_ms=round((time.monotonic() - self.started) * 1000, 2),
            error_kind=failure.kind if failure else None,
            phase=self.phase if failure else None,
            detail=text,
            resolved_addresses=self.resolved,
            connected_address=self.connected,
            http_status=self.http_status,
            http_server=self.http_server,
            body_excerpt=excerpt,
            tls_days_left=self.tls_days_left,
            timings_ms=dict(self.timings),
        )

    # -- steps --------------------------------------------------------------------------

    def resolve(self) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
        self.phase = Phase.RESOLVE
        host, port = self.spec.target_host, self.spec.target_port
        started = time.monotonic()
        literal = _ip_literal(host)
        if literal is not None:
            family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            infos = [(family, (host, port or 0))]
        else:
            infos = self._getaddrinfo(host, port)
        self.lap("resolve", started)
        self.resolved = tuple(dict.fromkeys(str(sockaddr[0]) for _, sockaddr in infos))
        return infos

    def _getaddrinfo(self, host: str, port: int | None) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
        # getaddrinfo cannot be interrupted, so it runs in a thread the probe stops waiting
        # for: a dead DNS server must cost the probe its timeout, not glibc's 5 s x attempts.
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="probe-resolve", daemon=True).start()
        wait = self.remaining()
        if not done.wait(wait):
            raise _Failure(ErrorKind.TIMEOUT, f"Name resolution of {host} got no answer within {wait:.1f} s")
        error = box.get("error")
        if isinstance(error, socket.gaierror):
            raise _Failure(ErrorKind.DNS_FAILURE, f"The name {host} does not resolve ({error.strerror})")
        if error is not None:
            raise _Failure(ErrorKind.DNS_FAILURE, f"Resolving {host} failed: {error}")
        infos = [(family, sockaddr) for family, _, _, _, sockaddr in box["infos"]]
        if not infos:
            raise _Failure(ErrorKind.DNS_FAILURE, f"The name {host} has no address")
        return infos

    def connect(self, infos: list[tuple[socket.AddressFamily, tuple[Any, ...]]]) -> socket.socket:
        self.phase = Phase.CONNECT
        failures: list[_Failure] = []
        for family, sockaddr in infos:
            if failures and self.deadline <= time.monotonic():
                break
            wait = self.remaining()
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(wait)
            started = time.monotonic()
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                failures.append(self._connect_failure(exc, str(sockaddr[0]), wait))
                continue
            self.lap("connect", started)
            self.connected = str(sockaddr[0])
            return sock
        last = failures[-1]
        if len(failures) > 1:
            raise _Failure(last.kind, "; ".join(f.detail for f in failures))
        raise last

    def _connect_failure(self, exc: OSError, ip: str, wait: float) -> _Failure:
        where = self.where(ip)
        if isinstance(exc, TimeoutError):
            return _Failure(ErrorKind.TIMEOUT, f"Connection timed out after {wait:.1f} s to {where}")
        if isinstance(exc, ConnectionRefusedError):
            return _Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
        if exc.errno in _UNREACHABLE_ERRNOS:
            return _Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({exc.strerror})")
        return _Failure(ErrorKind.OTHER, f"Connecting to {where} failed: {exc}")

    def start_tls(self, sock: socket.socket, *, verify: bool | None = None) -> ssl.SSLSocket:
        self.phase = Phase.TLS
        verify = self.spec.verify_tls if verify is None else verify
        context = _tls_client_context(verify, self.spec.ca_file)
        wait = self.remaining()
        sock.settimeout(wait)
        started = time.monotonic()
        try:
            tls = context.wrap_socket(sock, server_hostname=self.spec.target_host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise _Failure(
                ErrorKind.TLS_ERROR,
                f"The TLS certificate of {self.where()} was not accepted: {exc.verify_message}",
            ) from None
        except TimeoutError:
            sock.close()
            raise _Failure(
                ErrorKind.TIMEOUT,
                f"TLS handshake with {self.where()} got no answer within {wait:.1f} s",
            ) from None
        except OSError as exc:  # ssl.SSLError is an OSError, and so is a reset mid-handshake
            sock.close()
            raise self._tls_failure(exc) from None
        self.lap("tls", started)
        self.tls_days_left = _days_left(tls.getpeercert(binary_form=True))
        return tls

    def _tls_failure(self, exc: OSError) -> _Failure:
        reason = getattr(exc, "reason", None) or ""
        where = self.where()
        if self.spec.kind is ProbeKind.HTTP:
            status = self.confirm_plain_http()
            if status is not None:
                return _Failure(
                    ErrorKind.TLS_TO_PLAIN,
                    f"{where} answers plain HTTP (HTTP {status}), not TLS: "
                    f"the TLS handshake failed ({reason or exc})",
                )
        if reason in _PLAIN_PEER_TLS_REASONS:
            return _Failure(ErrorKind.TLS_TO_PLAIN, f"{where} does not speak TLS ({reason})")
        return _Failure(ErrorKind.TLS_ERROR, f"TLS handshake with {where} failed: {exc}")

    def confirm_plain_http(self) -> int | None:
        """After a failed handshake: does the port answer a plain-HTTP request?"""
        try:
            sock = self.reconnect()
            with sock:
                sock.sendall(_http_request(self.spec))
                line = sock.makefile("rb").readline(256)
        except (OSError, _Failure):
            return None
        match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", line)
        return int(match.group(1)) if match else None

    def confirm_tls(self) -> bool:
        """After plain HTTP got no HTTP answer: does the port complete a TLS handshake?"""
        try:
            sock = self.reconnect()
            context = _tls_client_context(False, None)
            with context.wrap_socket(sock, server_hostname=self.spec.target_host):
                return True
        except (OSError, _Failure):
            return False

    def reconnect(self) -> socket.socket:
        assert self.connected is not None
        family = socket.AF_INET6 if ":" in self.connected else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.remaining())
        try:
            sock.connect((self.connected, self.spec.target_port))
        except OSError:
            sock.close()
            raise
        return sock


_UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
    errno.EINVAL,  # what connect() gets from a local `blackhole` route
    errno.EACCES,  # a `prohibit` route
    errno.EPERM,
}
# OpenSSL's words when the peer's first bytes are not a TLS record (e.g. "HTTP/1.1 400").
_PLAIN_PEER_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
}
# What TLS servers answer to plain HTTP: nginx, and Go's net/http (Traefik, Caddy).
_PLAIN_TO_TLS_BODIES = (
    "plain http request was sent to https port",
    "client sent an http request to an https server",
)


def _probe_dns(attempt: _Attempt) -> str:
    attempt.resolve()
    addresses = ", ".join(attempt.resolved)
    return f"{attempt.spec.target_host} resolves to {addresses}"


def _probe_tcp(attempt: _Attempt) -> str:
    sock = attempt.connect(attempt.resolve())
    sock.close()
    return f"Connected to {attempt.where()} in {attempt.timings['connect_ms']:.1f} ms"


def _probe_http(attempt: _Attempt) -> str:
    spec = attempt.spec
    sock: socket.socket = attempt.connect(attempt.resolve())
    if spec.scheme == "https":
        sock = attempt.start_tls(sock)
    with sock:
        try:
            status, reason, server, body = _http_exchange(attempt, sock)
        except _Failure as failure:
            if failure.kind is ErrorKind.PROTOCOL_ERROR and spec.scheme == "http" and attempt.confirm_tls():
                raise _Failure(
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
        attempt.body_excerpt = _excerpt(text)
        raise _Failure(
            ErrorKind.PLAIN_TO_TLS,
            f"{attempt.where()} answered HTTP 400 to plain HTTP: it is a TLS port, use https://",
        )
    if not (status in spec.expected_status if spec.expected_status else 200 <= status < 400):
        attempt.body_excerpt = _excerpt(text)
        raise _Failure(ErrorKind.HTTP_STATUS, f"HTTP {status} {reason} from {spec.url}".rstrip())
    if spec.readiness_requires_db:
        db = _json_field(text, "db")
        if db is None:
            attempt.body_excerpt = _excerpt(text)
            raise _Failure(
                ErrorKind.PROTOCOL_ERROR,
                f'{spec.url} answered HTTP {status} without a JSON "db" field',
            )
        if str(db).lower() != "connected":
            attempt.body_excerpt = _excerpt(text)
            raise _Failure(
                ErrorKind.DB_NOT_CONNECTED,
                f'{spec.url} answered HTTP {status} but its database is "{db}"',
            )
    if spec.keyword and spec.keyword not in text:
        attempt.body_excerpt = _excerpt(text)
        raise _Failure(
            ErrorKind.KEYWORD_MISSING,
            f"{spec.url} answered HTTP {status} but the body does not contain {spec.keyword!r}",
        )
    return f"HTTP {status} from {spec.url} in {(time.monotonic() - attempt.started) * 1000:.0f} ms"


def _http_request(spec: ProbeSpec) -> bytes:
    port = spec.target_port
    default = _DEFAULT_PORTS[spec.scheme]
    host_header = _bracket(spec.target_host) + ("" if port == default else f":{port}")
    return (
        f"GET {spec.path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def _http_exchange(attempt: _Attempt, sock: socket.socket) -> tuple[int, str, str | None, bytes]:
    attempt.phase = Phase.ANSWER
    where = attempt.where()
    wait = attempt.remaining()
    sock.settimeout(wait)
    started = time.monotonic()
    try:
        sock.sendall(_http_request(attempt.spec))
        if not isinstance(sock, ssl.SSLSocket):
            first = sock.recv(5, socket.MSG_PEEK)
            if not first:
                raise _Failure(ErrorKind.PROTOCOL_ERROR, f"{where} closed the connection without answering")
            if first[:1] in (b"\x15", b"\x16") and first[1:2] == b"\x03":
                raise _Failure(
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
        raise _Failure(
            ErrorKind.TIMEOUT,
            f"{where} accepted the connection but sent no answer within {wait:.1f} s",
        ) from None
    except (http.client.HTTPException, ConnectionResetError, BrokenPipeError) as exc:
        raise _Failure(
            ErrorKind.PROTOCOL_ERROR,
            f"{where} did not answer with HTTP ({type(exc).__name__}: {exc})",
        ) from None
    except ssl.SSLError as exc:
        raise _Failure(ErrorKind.TLS_ERROR, f"TLS with {where} failed: {exc}") from None


def _probe_postgres(attempt: _Attempt) -> str:
    import psycopg  # here, so that importing probes does not load libpq in every process

    spec = attempt.spec
    params: dict[str, Any] = {
        "user": spec.username or "postgres",
        "password": spec.password,
        "dbname": spec.database,
        "port": spec.target_port,
        "application_name": "portal-probe",
    }
    if spec.is_unix_socket:
        params["host"] = spec.host
        attempt.resolved = (spec.host or "",)
    else:
        addresses = [str(sockaddr[0]) for _, sockaddr in attempt.resolve()]
        # hostaddr skips libpq's own lookup: the addresses tried are the ones we saw.
        params["host"] = ",".join([spec.target_host] * len(addresses))
        params["hostaddr"] = ",".join(addresses)
    attempt.phase = Phase.CONNECT
    wait = attempt.remaining()
    # libpq (and psycopg after it) counts connect_timeout in whole seconds, at least 2.
    params["connect_timeout"] = max(2, math.ceil(wait))
    started = time.monotonic()
    try:
        conn = psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})
    except psycopg.Error as exc:
        raise _postgres_failure(attempt, str(exc), params["connect_timeout"]) from None
    with conn:
        attempt.lap("connect", started)
        attempt.connected = conn.info.hostaddr or spec.host
        user = conn.info.user
        attempt.phase = Phase.ANSWER
        started = time.monotonic()
        try:
            row = conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            raise _Failure(
                ErrorKind.SERVER_ERROR, f"PostgreSQL at {attempt.where()}: {_pg_reason(str(exc))}"
            ) from None
        attempt.lap("query", started)
    if row != (1,):
        raise _Failure(ErrorKind.PROTOCOL_ERROR, f"SELECT 1 on {attempt.where()} returned {row!r}")
    return f"PostgreSQL at {attempt.where()} answered SELECT 1 as {user}"


def _postgres_failure(attempt: _Attempt, message: str, timeout: int) -> _Failure:
    reason = _pg_reason(message)
    lowered = message.lower()
    where = attempt.where(_pg_failed_address(message))
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return _Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
    if "timeout expired" in lowered or "timed out" in lowered:
        return _Failure(ErrorKind.TIMEOUT, f"Connection timed out after {timeout:.1f} s to {where}")
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return _Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({reason})")
    if any(m in lowered for m in _PG_AUTH_MARKERS):
        return _Failure(ErrorKind.AUTH_FAILED, f"PostgreSQL at {where} refused the login: {reason}")
    if "invalid response to ssl negotiation" in lowered:  # an HTTP server, for one
        return _Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as PostgreSQL: {reason}")
    if "ssl" in lowered and "not support" in lowered:
        return _Failure(ErrorKind.TLS_ERROR, f"PostgreSQL at {where}: {reason}")
    if "fatal" in lowered:
        return _Failure(ErrorKind.SERVER_ERROR, f"PostgreSQL at {where}: {reason}")
    return _Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as PostgreSQL: {reason}")


_PG_AUTH_MARKERS = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    'role "',  # role "x" does not exist: a login with an unknown user
)


def _pg_reason(message: str) -> str:
    """libpq's sentence without the "connection to server at ... failed:" preamble."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    line = next((x for x in lines if "FATAL" in x), lines[0] if lines else message)
    reason = line.rpartition("failed: ")[2] if "failed: " in line else line
    return re.sub(r"^FATAL:\s*", "", reason).strip()


def _pg_failed_address(message: str) -> str | None:
    match = re.search(r'server at "[^"]*" \(([^)]+)\)|server at "([^"]+)"', message)
    if not match:
        return None
    return match.group(1) or match.group(2)


def _probe_redis(attempt: _Attempt) -> str:
    import redis  # here, so that importing probes does not need redis-py

    spec = attempt.spec
    common: dict[str, Any] = {
        "username": spec.username,
        "password": spec.password,
        "db": int(spec.database or 0),
        "driver_info": None,  # no CLIENT SETINFO: one command less, nothing in the server log
    }
    conn: redis.connection.AbstractConnection
    ip: str | None = None
    if spec.is_unix_socket:
        attempt.resolved = (spec.host or "",)
        wait = attempt.remaining()
        conn = redis.UnixDomainSocketConnection(  # type: ignore[abstract]  # redis-py marks `host` abstract
            path=spec.host or "", socket_timeout=wait, socket_connect_timeout=wait, **common
        )
    else:
        ip = str(attempt.resolve()[0][1][0])
        attempt.phase = Phase.CONNECT
        wait = attempt.remaining()
        # A Connection, not a Redis client: no pool, and no retry (its default is none).
        conn = redis.Connection(
            host=ip,
            port=spec.target_port or 6379,
            socket_timeout=wait,
            socket_connect_timeout=wait,
            **common,
        )
    attempt.phase = Phase.CONNECT
    started = time.monotonic()
    try:
        conn.connect()  # TCP, then AUTH and SELECT when set
        attempt.lap("connect", started)
        attempt.connected = ip or spec.host
        attempt.phase = Phase.ANSWER
        started = time.monotonic()
        conn.send_command("PING")
        reply = conn.read_response()
        attempt.lap("ping", started)
    except redis.RedisError as exc:
        raise _redis_failure(attempt, exc, attempt.where(ip), wait) from None
    finally:
        conn.disconnect()
    if reply not in (b"PONG", "PONG", True):
        raise _Failure(ErrorKind.PROTOCOL_ERROR, f"{attempt.where()} answered PING with {reply!r}")
    return f"Redis at {attempt.where()} answered PING"


def _redis_failure(attempt: _Attempt, exc: Exception, where: str, wait: float) -> _Failure:
    import redis

    if isinstance(exc, redis.AuthenticationError) or (
        isinstance(exc, redis.ResponseError) and "NOAUTH" in str(exc)
    ):
        text = str(exc)
        if any(mark in text for mark in _REDIS_NO_PASSWORD_MARKS):
            text = "it requires a password and none was given"
        elif "without any password configured" in text:
            text = "a password was given but the server has none configured"
        return _Failure(ErrorKind.AUTH_FAILED, f"Redis at {where} refused the credentials: {text}")
    if isinstance(exc, redis.TimeoutError):
        if attempt.phase is Phase.CONNECT and "connecting" in str(exc):
            return _Failure(ErrorKind.TIMEOUT, f"Connection timed out after {wait:.1f} s to {where}")
        return _Failure(
            ErrorKind.TIMEOUT,
            f"{where} accepted the connection but sent no answer within {wait:.1f} s",
        )
    os_error = _os_error_in(exc)
    if isinstance(exc, redis.ConnectionError) and os_error is not None:
        if isinstance(os_error, ConnectionRefusedError | FileNotFoundError):
            return _Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
        if os_error.errno in _UNREACHABLE_ERRNOS:
            return _Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({os_error.strerror})")
        if isinstance(os_error, ConnectionResetError | BrokenPipeError):
            return _Failure(
                ErrorKind.PROTOCOL_ERROR, f"{where} reset the connection: it does not speak Redis"
            )
    if isinstance(exc, redis.BusyLoadingError | redis.ResponseError):
        return _Failure(ErrorKind.SERVER_ERROR, f"Redis at {where} answered an error: {exc}")
    if isinstance(exc, redis.exceptions.InvalidResponse | redis.ConnectionError):
        return _Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as Redis: {exc}")
    return _Failure(ErrorKind.OTHER, f"Redis at {where}: {type(exc).__name__}: {exc}")


# What Redis says when a client sends no password: "NOAUTH Authentication required." to a
# command, and this to the HELLO redis-py sends first on connect.
_REDIS_NO_PASSWORD_MARKS = (
    "NOAUTH",
    "Authentication required",
    "must be called with the client already authenticated",
)


def _os_error_in(exc: BaseException) -> OSError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


_RUNNERS = {
    ProbeKind.DNS: _probe_dns,
    ProbeKind.TCP: _probe_tcp,
    ProbeKind.HTTP: _probe_http,
    ProbeKind.POSTGRES: _probe_postgres,
    ProbeKind.REDIS: _probe_redis,
}


def _tls_client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _days_left(der: bytes | None) -> int | None:
    if not der:
        return None
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography ships with the portal (Fernet)
        return None
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return math.floor((expires - datetime.now(UTC)).total_seconds() / 86400)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _excerpt(text: str) -> str:
    return " ".join(text.split())[:EXCERPT_CHARS]


def _json_field(text: str, name: str) -> Any:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None
