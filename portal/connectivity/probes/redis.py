"""Redis probes: connect (AUTH and SELECT when set) and PING, on one unpooled connection."""

from __future__ import annotations

import time
from typing import Any

from portal.connectivity.probes.attempt import UNREACHABLE_ERRNOS, Attempt, Failure
from portal.connectivity.probes.spec import ErrorKind, Phase


def probe_redis(attempt: Attempt) -> str:
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
        raise Failure(ErrorKind.PROTOCOL_ERROR, f"{attempt.where()} answered PING with {reply!r}")
    return f"Redis at {attempt.where()} answered PING"


def _redis_failure(attempt: Attempt, exc: Exception, where: str, wait: float) -> Failure:
    import redis

    if isinstance(exc, redis.AuthenticationError) or (
        isinstance(exc, redis.ResponseError) and "NOAUTH" in str(exc)
    ):
        text = str(exc)
        if any(mark in text for mark in _REDIS_NO_PASSWORD_MARKS):
            text = "it requires a password and none was given"
        elif "without any password configured" in text:
            text = "a password was given but the server has none configured"
        return Failure(ErrorKind.AUTH_FAILED, f"Redis at {where} refused the credentials: {text}")
    if isinstance(exc, redis.TimeoutError):
        if attempt.phase is Phase.CONNECT and "connecting" in str(exc):
            return Failure(ErrorKind.TIMEOUT, f"Connection timed out after {wait:.1f} s to {where}")
        return Failure(
            ErrorKind.TIMEOUT,
            f"{where} accepted the connection but sent no answer within {wait:.1f} s",
        )
    os_error = _os_error_in(exc)
    if isinstance(exc, redis.ConnectionError) and os_error is not None:
        if isinstance(os_error, ConnectionRefusedError | FileNotFoundError):
            return Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
        if os_error.errno in UNREACHABLE_ERRNOS:
            return Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({os_error.strerror})")
        if isinstance(os_error, ConnectionResetError | BrokenPipeError):
            return Failure(ErrorKind.PROTOCOL_ERROR, f"{where} reset the connection: it does not speak Redis")
    if isinstance(exc, redis.BusyLoadingError | redis.ResponseError):
        return Failure(ErrorKind.SERVER_ERROR, f"Redis at {where} answered an error: {exc}")
    if isinstance(exc, redis.exceptions.InvalidResponse | redis.ConnectionError):
        return Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as Redis: {exc}")
    return Failure(ErrorKind.OTHER, f"Redis at {where}: {type(exc).__name__}: {exc}")


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
