"""PostgreSQL probes: a real login and SELECT 1, on the addresses the probe resolved itself."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from portal.connectivity.probes.attempt import Attempt, Failure
from portal.connectivity.probes.spec import ErrorKind, Phase


def probe_postgres(attempt: Attempt) -> str:
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
            raise Failure(
                ErrorKind.SERVER_ERROR, f"PostgreSQL at {attempt.where()}: {_pg_reason(str(exc))}"
            ) from None
        attempt.lap("query", started)
    if row != (1,):
        raise Failure(ErrorKind.PROTOCOL_ERROR, f"SELECT 1 on {attempt.where()} returned {row!r}")
    return f"PostgreSQL at {attempt.where()} answered SELECT 1 as {user}"


def _postgres_failure(attempt: Attempt, message: str, timeout: int) -> Failure:
    reason = _pg_reason(message)
    lowered = message.lower()
    where = attempt.where(_pg_failed_address(message))
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return Failure(ErrorKind.REFUSED, f"Connection refused by {where}")
    if "timeout expired" in lowered or "timed out" in lowered:
        return Failure(ErrorKind.TIMEOUT, f"Connection timed out after {timeout:.1f} s to {where}")
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return Failure(ErrorKind.UNREACHABLE, f"No route to {where} ({reason})")
    if any(m in lowered for m in _PG_AUTH_MARKERS):
        return Failure(ErrorKind.AUTH_FAILED, f"PostgreSQL at {where} refused the login: {reason}")
    if "invalid response to ssl negotiation" in lowered:  # an HTTP server, for one
        return Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as PostgreSQL: {reason}")
    if "ssl" in lowered and "not support" in lowered:
        return Failure(ErrorKind.TLS_ERROR, f"PostgreSQL at {where}: {reason}")
    if "fatal" in lowered:
        return Failure(ErrorKind.SERVER_ERROR, f"PostgreSQL at {where}: {reason}")
    return Failure(ErrorKind.PROTOCOL_ERROR, f"{where} did not answer as PostgreSQL: {reason}")


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
