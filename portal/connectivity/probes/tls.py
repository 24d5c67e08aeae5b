"""TLS steps: the handshake, and telling a plain port from a TLS one when either side is wrong."""

from __future__ import annotations

import hashlib
import math
import re
import socket
import ssl
import time
from datetime import UTC, datetime

from portal.connectivity.probes.attempt import Attempt, Failure
from portal.connectivity.probes.spec import ErrorKind, Phase, ProbeKind, http_request

# OpenSSL's words when the peer's first bytes are not a TLS record (e.g. "HTTP/1.1 400").
_PLAIN_PEER_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
}


def start_tls(attempt: Attempt, sock: socket.socket, *, verify: bool | None = None) -> ssl.SSLSocket:
    attempt.phase = Phase.TLS
    verify = attempt.spec.verify_tls if verify is None else verify
    context = tls_client_context(verify, attempt.spec.ca_file)
    wait = attempt.remaining()
    sock.settimeout(wait)
    started = time.monotonic()
    try:
        tls = context.wrap_socket(sock, server_hostname=attempt.spec.target_host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise Failure(
            ErrorKind.TLS_ERROR,
            f"The TLS certificate of {attempt.where()} was not accepted: {exc.verify_message}",
        ) from None
    except TimeoutError:
        sock.close()
        raise Failure(
            ErrorKind.TIMEOUT,
            f"TLS handshake with {attempt.where()} got no answer within {wait:.1f} s",
        ) from None
    except OSError as exc:  # ssl.SSLError is an OSError, and so is a reset mid-handshake
        sock.close()
        raise _tls_failure(attempt, exc) from None
    attempt.lap("tls", started)
    der = tls.getpeercert(binary_form=True)
    attempt.tls_days_left = days_left(der)
    # Which certificate: a renewed one is new news for each expiry threshold (certificates.py).
    attempt.tls_fingerprint = hashlib.sha256(der).hexdigest() if der else ""
    return tls


def _tls_failure(attempt: Attempt, exc: OSError) -> Failure:
    reason = getattr(exc, "reason", None) or ""
    where = attempt.where()
    if attempt.spec.kind is ProbeKind.HTTP:
        status = _confirm_plain_http(attempt)
        if status is not None:
            return Failure(
                ErrorKind.TLS_TO_PLAIN,
                f"{where} answers plain HTTP (HTTP {status}), not TLS: "
                f"the TLS handshake failed ({reason or exc})",
            )
    if reason in _PLAIN_PEER_TLS_REASONS:
        return Failure(ErrorKind.TLS_TO_PLAIN, f"{where} does not speak TLS ({reason})")
    return Failure(ErrorKind.TLS_ERROR, f"TLS handshake with {where} failed: {exc}")


def _confirm_plain_http(attempt: Attempt) -> int | None:
    """After a failed handshake: does the port answer a plain-HTTP request?"""
    try:
        sock = attempt.reconnect()
        with sock:
            sock.sendall(http_request(attempt.spec))
            line = sock.makefile("rb").readline(256)
    except (OSError, Failure):
        return None
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", line)
    return int(match.group(1)) if match else None


def confirm_tls(attempt: Attempt) -> bool:
    """After plain HTTP got no HTTP answer: does the port complete a TLS handshake?"""
    try:
        sock = attempt.reconnect()
        context = tls_client_context(False, None)
        with context.wrap_socket(sock, server_hostname=attempt.spec.target_host):
            return True
    except (OSError, Failure):
        return False


def tls_client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def days_left(der: bytes | None) -> int | None:
    if not der:
        return None
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography ships with the portal (Fernet)
        return None
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return math.floor((expires - datetime.now(UTC)).total_seconds() / 86400)
