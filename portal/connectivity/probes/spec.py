"""What a probe checks and what it saw: `ProbeSpec` in, `ProbeOutcome` out, and the words
for what went wrong (`ErrorKind`) and where (`Phase`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
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


# What the admin shows for a kind or an error (filters, columns, choices): words, not ids.
PROBE_KIND_LABELS: Mapping[str, str] = {
    ProbeKind.HTTP: "HTTP",
    ProbeKind.TCP: "TCP",
    ProbeKind.DNS: "DNS",
    ProbeKind.POSTGRES: "PostgreSQL",
    ProbeKind.REDIS: "Redis",
}
ERROR_KIND_LABELS: Mapping[str, str] = {
    ErrorKind.DNS_FAILURE: "name does not resolve (DNS)",
    ErrorKind.REFUSED: "connection refused",
    ErrorKind.TIMEOUT: "timed out",
    ErrorKind.UNREACHABLE: "unreachable",
    ErrorKind.TLS_ERROR: "TLS handshake or certificate",
    ErrorKind.TLS_TO_PLAIN: "https:// to a plain HTTP port",
    ErrorKind.PLAIN_TO_TLS: "http:// to a TLS port",
    ErrorKind.HTTP_STATUS: "unexpected HTTP status",
    ErrorKind.KEYWORD_MISSING: "keyword missing from the answer",
    ErrorKind.DB_NOT_CONNECTED: "LiteLLM's database not connected",
    ErrorKind.AUTH_FAILED: "credentials refused",
    ErrorKind.SERVER_ERROR: "server answered with an error",
    ErrorKind.PROTOCOL_ERROR: "answered in another protocol",
    ErrorKind.OTHER: "other",
}


class Phase(StrEnum):
    """The step a probe was in when it stopped; tells a connect timeout from a silent service."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    TLS = "tls"
    ANSWER = "answer"
    CHECK = "check"


DEFAULT_PORTS = {"http": 80, "https": 443, "postgres": 5432, "redis": 6379}
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
            return urlsplit(self._url).port or DEFAULT_PORTS[self.scheme]
        if self.is_unix_socket:
            return None
        return self.port or DEFAULT_PORTS.get(self.kind.value)

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
        where = bracket(self.target_host) + (f":{port}" if port else "")
        database = f"/{self.database}" if self.database else ""
        return f"{self.kind}://{user}{where}{database}"

    def with_host(self, host: str) -> ProbeSpec:
        """The same check (port, path, scheme, credentials) against another host."""
        if self.kind is not ProbeKind.HTTP:
            return replace(self, host=host)
        parts = urlsplit(self._url)
        netloc = bracket(host) + (f":{parts.port}" if parts.port else "")
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
    tls_fingerprint: str = ""  # SHA-256 of the peer's certificate (DER), "" without TLS
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


def http_request(spec: ProbeSpec) -> bytes:
    """The GET a probe sends (also to tell a plain port from a TLS one after a failed handshake)."""
    port = spec.target_port
    default = DEFAULT_PORTS[spec.scheme]
    host_header = bracket(spec.target_host) + ("" if port == default else f":{port}")
    return (
        f"GET {spec.path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
