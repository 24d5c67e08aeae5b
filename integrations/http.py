"""The one outbound HTTP layer for vendor APIs (LiteLLM, LibreChat).

Every call has explicit connect and read timeouts, goes through a pooled session with a
`portal/<version>` User-Agent, and fails with one exception family whose message is a
sentence a tired operator can act on ("Connection refused by litellm:4000 ...") and whose
`retryable` flag says whether trying again later can help.

Automatic retries happen only where repeating is safe: connect failures (the request never
left, so even a POST may be resent) and read failures of idempotent methods. A POST that
creates something is never resent blindly; its caller decides (e.g. look the key up by hash).

Connectivity probes do NOT use this module: they need fresh connections to measure name
resolution, connect and TLS, which a pool hides.
"""

from __future__ import annotations

import email.utils
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = [
    "ErrorKind",
    "VendorBadResponse",
    "VendorError",
    "VendorHTTP",
    "VendorHTTPError",
    "VendorTLSError",
    "VendorTimeout",
    "VendorUnreachable",
    "user_agent",
]

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
# Server errors that usually pass (a restart, an overloaded upstream, a proxy in between).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ErrorKind(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    CONNECTION = "connection"
    DROPPED = "dropped"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    INVALID_JSON = "invalid_json"
    BAD_SHAPE = "bad_shape"
    TOO_LARGE = "too_large"


class VendorError(Exception):
    """A call to a vendor failed. `str(e)` is a human sentence; it never holds a secret."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        retryable: bool,
        vendor: str = "",
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        vendor_message: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retryable = retryable
        self.vendor = vendor
        self.url = url
        self.status = status
        self.retry_after = retry_after
        self.vendor_message = vendor_message

    def __reduce__(self) -> Any:
        # Celery and pickle rebuild exceptions from args: keep every attribute.
        return (
            _rebuild_vendor_error,
            (type(self), self.message, self.__dict__.copy()),
        )


def _rebuild_vendor_error(cls: type[VendorError], message: str, state: dict[str, Any]) -> VendorError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class VendorUnreachable(VendorError):
    """DNS failure, connection refused, or the connection dropped."""


class VendorTimeout(VendorError):
    """Connect or read timeout."""


class VendorTLSError(VendorError):
    """The TLS handshake failed (certificate, or TLS spoken to a plain port)."""


class VendorHTTPError(VendorError):
    """The vendor answered with an error status."""


class VendorBadResponse(VendorError):
    """The vendor answered, but not with what its contract promises."""


def user_agent() -> str:
    try:
        from django.conf import settings

        version = settings.PORTAL_VERSION
    except Exception:
        version = "0"
    return f"portal/{version}"


def public_url(url: str) -> str:
    """The URL without credentials or query string, fit for a message or a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, delta)


def _root_causes(exc: BaseException) -> list[BaseException]:
    """Walk requests -> urllib3 -> socket wrappers to the underlying errors."""
    seen: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.append(current)
        for attr in ("reason", "__cause__", "__context__"):
            nested = getattr(current, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)
    return seen


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class VendorHTTP:
    """A pooled session bound to one vendor base URL.

    `error_message` extracts the vendor's own words from an error response (each vendor
    has its envelope); `classify` may override retryability for a vendor's known
    permanent answers (e.g. LiteLLM's enterprise-only 500).
    """

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        connect_retries: int = 2,
        read_retries: int = 1,
        backoff_factor: float = 0.2,
        pool_maxsize: int = 16,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        error_message: Callable[[requests.Response], str] | None = None,
        classify: Callable[[requests.Response, str], bool | None] | None = None,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = (
            connect_timeout
            if connect_timeout is not None
            else _setting("VENDOR_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
        )
        self.read_timeout = (
            read_timeout
            if read_timeout is not None
            else _setting("VENDOR_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
        )
        self.max_body_bytes = max_body_bytes
        self._error_message = error_message or _generic_error_message
        self._classify = classify
        retry = Retry(
            total=None,
            connect=connect_retries,
            read=read_retries,  # only for Retry.DEFAULT_ALLOWED_METHODS (GET, PUT, DELETE, ...)
            status=0,
            other=0,
            redirect=0,
            backoff_factor=backoff_factor,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)
        self.session = requests.Session()
        self.session.trust_env = False  # no surprise proxies from the environment
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": user_agent(), "Accept": "application/json"})
        if headers:
            self.session.headers.update(headers)

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | tuple[float, float] | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request; return the response if its status is 2xx or in ok_statuses."""
        url = self.url(path)
        shown = public_url(url)
        if timeout is None:
            timeout = (self.connect_timeout, self.read_timeout)
        elif isinstance(timeout, int | float):
            timeout = (min(self.connect_timeout, float(timeout)), float(timeout))
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                data=data,
                headers=dict(headers) if headers else None,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
            self._read_body(response, shown)
        except VendorError:
            raise
        except requests.exceptions.ConnectTimeout:
            raise self._connect_timeout(url, shown, timeout[0]) from None
        except requests.exceptions.ReadTimeout:
            raise self._read_timeout(shown, timeout[1], retried=False) from None
        except requests.exceptions.SSLError as exc:
            raise VendorTLSError(
                f"TLS handshake with {_host_port(url)} failed ({_tls_reason(exc)}); check the "
                "certificate, or use http:// if the service speaks plain HTTP",
                kind=ErrorKind.TLS,
                retryable=False,
                vendor=self.vendor,
                url=shown,
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise self._connection_error(exc, url, shown, timeout) from None
        except requests.exceptions.RequestException as exc:
            raise VendorUnreachable(
                f"Request to {shown} failed: [{type(exc).__name__}]",
                kind=ErrorKind.CONNECTION,
                retryable=True,
                vendor=self.vendor,
                url=shown,
            ) from None

        if 200 <= response.status_code < 300 or response.status_code in ok_statuses:
            return response
        raise self._status_error(response, shown)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and parse its JSON answer."""
        response = self.request(method, path, **kwargs)
        return self.parse_json(response)

    def parse_json(self, response: requests.Response) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            snippet = response.content[:120].decode("utf-8", "replace").strip()
            raise VendorBadResponse(
                f"{self.vendor} at {public_url(response.url)} answered {response.status_code} with a "
                f"body that is not JSON: {snippet!r}",
                kind=ErrorKind.INVALID_JSON,
                retryable=False,
                vendor=self.vendor,
                url=public_url(response.url),
                status=response.status_code,
            ) from None

    def bad_shape(self, response_or_url: requests.Response | str, what: str) -> VendorBadResponse:
        url = response_or_url if isinstance(response_or_url, str) else response_or_url.url
        return VendorBadResponse(
            f"{self.vendor} at {public_url(url)} answered in an unexpected shape: {what}",
            kind=ErrorKind.BAD_SHAPE,
            retryable=False,
            vendor=self.vendor,
            url=public_url(url),
        )

    # --- internals ---------------------------------------------------------------------

    def _read_body(self, response: requests.Response, shown: str) -> None:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_body_bytes:
                response.close()
                raise VendorBadResponse(
                    f"{self.vendor} at {shown} sent more than {self.max_body_bytes // (1024 * 1024)} MB; "
                    "refusing to read it",
                    kind=ErrorKind.TOO_LARGE,
                    retryable=False,
                    vendor=self.vendor,
                    url=shown,
                    status=response.status_code,
                )
            chunks.append(chunk)
        response._content = b"".join(chunks)  # what requests itself does when it reads the body

    def _connection_error(
        self, exc: BaseException, url: str, shown: str, timeout: tuple[float, float]
    ) -> VendorError:
        causes = _root_causes(exc)
        where = _host_port(url)
        host = urlsplit(url).hostname or ""
        names = {type(c).__name__ for c in causes}
        # After urllib3 has retried a timed-out read (idempotent methods only), requests
        # reports a ConnectionError wrapping MaxRetryError(ReadTimeoutError): still a timeout.
        if "ReadTimeoutError" in names:
            return self._read_timeout(shown, timeout[1], retried=True)
        if "ConnectTimeoutError" in names:
            return self._connect_timeout(url, shown, timeout[0])
        if any(isinstance(c, socket.gaierror) for c in causes) or any(
            "NameResolutionError" in type(c).__name__ for c in causes
        ):
            return VendorUnreachable(
                f"Could not resolve the host name '{host}' ({shown}): this container is not on a "
                "network where that name exists, or the name is misspelled",
                kind=ErrorKind.DNS,
                retryable=True,
                vendor=self.vendor,
                url=shown,
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return VendorUnreachable(
                f"Connection refused by {where} ({shown}): nothing listens there; the service is "
                "down or on another port",
                kind=ErrorKind.REFUSED,
                retryable=True,
                vendor=self.vendor,
                url=shown,
            )
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return VendorTLSError(
                f"TLS handshake with {where} failed; check the certificate or the scheme",
                kind=ErrorKind.TLS,
                retryable=False,
                vendor=self.vendor,
                url=shown,
            )
        if names & {
            "RemoteDisconnected",
            "ProtocolError",
            "ConnectionResetError",
            "IncompleteRead",
            "BrokenPipeError",
            "ChunkedEncodingError",
        }:
            return VendorUnreachable(
                f"{self.vendor} at {shown} dropped the connection before answering (the request "
                "may or may not have been carried out)",
                kind=ErrorKind.DROPPED,
                retryable=True,
                vendor=self.vendor,
                url=shown,
            )
        return VendorUnreachable(
            f"Connection failed to {shown}: [{type(causes[-1]).__name__}]",
            kind=ErrorKind.CONNECTION,
            retryable=True,
            vendor=self.vendor,
            url=shown,
        )

    def _connect_timeout(self, url: str, shown: str, seconds: float) -> VendorTimeout:
        return VendorTimeout(
            f"Connection timeout to {shown} after {seconds:g} s: nothing answered at "
            f"{_host_port(url)} (a firewall, a wrong address, or a host that is down)",
            kind=ErrorKind.CONNECT_TIMEOUT,
            retryable=True,
            vendor=self.vendor,
            url=shown,
        )

    def _read_timeout(self, shown: str, seconds: float, *, retried: bool) -> VendorTimeout:
        return VendorTimeout(
            f"{self.vendor} at {shown} accepted the connection but sent no answer within "
            f"{seconds:g} s" + (" (tried again once)" if retried else ""),
            kind=ErrorKind.READ_TIMEOUT,
            retryable=True,
            vendor=self.vendor,
            url=shown,
        )

    def _status_error(self, response: requests.Response, shown: str) -> VendorHTTPError:
        status = response.status_code
        vendor_message = self._error_message(response)[:500]
        retryable = status in RETRYABLE_STATUSES
        if self._classify is not None:
            verdict = self._classify(response, vendor_message)
            if verdict is not None:
                retryable = verdict
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 429 else None
        said = f": {vendor_message}" if vendor_message else ""
        return VendorHTTPError(
            f"{self.vendor} answered {status} {response.reason or ''}".rstrip()
            + f" to {response.request.method} {shown}{said}",
            kind=ErrorKind.HTTP_STATUS,
            retryable=retryable,
            vendor=self.vendor,
            url=shown,
            status=status,
            retry_after=retry_after,
            vendor_message=vendor_message,
        )


def _setting(name: str, default: float) -> float:
    try:
        from django.conf import settings

        return float(getattr(settings, name, default))
    except Exception:
        return default


def _tls_reason(exc: BaseException) -> str:
    for cause in _root_causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError) and cause.reason:
            return str(cause.reason)
    return type(exc).__name__


def error_message_from(
    response: requests.Response, *, limit: int, from_envelope: Callable[[dict[str, Any]], str | None]
) -> str:
    """The vendor's words in an error answer: the start of a body that is not JSON (at most
    `limit` bytes), what `from_envelope` finds in a JSON object, else the JSON cut to `limit`."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return response.content[:limit].decode("utf-8", "replace").strip()
    if isinstance(body, dict):
        words = from_envelope(body)
        if words is not None:
            return words
    return json.dumps(body)[:limit]


def _generic_envelope(body: dict[str, Any]) -> str | None:
    for key in ("message", "detail", "error"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return None


def _generic_error_message(response: requests.Response) -> str:
    """The vendor's own words from common envelopes, else the start of the text body."""
    return error_message_from(response, limit=200, from_envelope=_generic_envelope)
