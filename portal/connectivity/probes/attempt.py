"""One probe run: a single deadline shared by every step, and the steps every kind shares
(resolve, connect). A step that fails raises `Failure`; `Attempt.outcome` turns it into the
`ProbeOutcome` the caller gets."""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import threading
import time
from typing import Any

from portal.connectivity.probes.spec import EXCERPT_CHARS, ErrorKind, Phase, ProbeOutcome, ProbeSpec, bracket


class Failure(Exception):
    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Attempt:
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
        self.tls_fingerprint = ""

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failure(
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
        hostport = bracket(host) + (f":{port}" if port else "")
        ip = ip or self.connected
        return hostport if not ip or ip == host else f"{hostport} ({ip})"

    def outcome(self, failure: Failure | None, detail: str = "") -> ProbeOutcome:
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
            tls_fingerprint=self.tls_fingerprint,
            timings_ms=dict(self.timings),
        )

    # -- steps --------------------------------------------------------------------------

    def resolve(self) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
        self.phase = Phase.RESOLVE
        host, port = self.spec.target_host, self.spec.target_port
        started = time.monotonic()
        literal = ip_literal(host)
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
            raise Failure(ErrorKind.TIMEOUT, f"Name resolution of {host} got no answer within {wait:.1f} s")
        error = box.get("error")
        if isinstance(error, socket.gaierror):
            raise Failure(ErrorKind.DNS_FAILURE, f"The name {host} does not resolve ({error.strerror})")
        if error is not None:
            raise Failure(ErrorKind.DNS_FAILURE, f"Resolving {host} failed: {error}")
        infos = [(family, sockaddr) for family, _, _, _, sockaddr in box["infos"]]
        if not infos:
            raise Failure(ErrorKind.DNS_FAILURE, f"The name {host} has no address")
        return infos

    def connect(self, infos: list[tuple[socket.AddressFamily, tuple[Any, ...]]]) -> socket.socket:
        self.phase = Phase.CONNECT
        failures: list[Failure] = []
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
            raise Failure(last.kind, "; ".join(f.detail for f in failures))
        raise last

    def _connect_failure(self, exc: OSError, ip: str, wait: float) -> Failure:
        where = self.where(ip)
        if isinstance(exc, TimeoutError):
            return Failure(ErrorKind.TIMEOUT, f"Connection timed out after {wait:.1f} s to {where}")
        if isinstance(exc, ConnectionRefusedError):
            return Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
        if exc.errno in UNREACHABLE_ERRNOS:
            return Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({exc.strerror})")
        return Failure(ErrorKind.OTHER, f"Connecting to {where} failed: {exc}")

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


UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
    errno.EINVAL,  # what connect() gets from a local `blackhole` route
    errno.EACCES,  # a `prohibit` route
    errno.EPERM,
}


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def excerpt(text: str) -> str:
    return " ".join(text.split())[:EXCERPT_CHARS]


def json_field(text: str, name: str) -> Any:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None
