"""`run_probe`: one check over fresh connections, dispatched by kind. Never raises."""

from __future__ import annotations

from portal.connectivity.probes.attempt import Attempt, Failure
from portal.connectivity.probes.http import probe_http
from portal.connectivity.probes.postgres import probe_postgres
from portal.connectivity.probes.redis import probe_redis
from portal.connectivity.probes.spec import ErrorKind, ProbeKind, ProbeOutcome, ProbeSpec


def run_probe(spec: ProbeSpec) -> ProbeOutcome:
    """Check `spec` once over fresh connections. Never raises."""
    attempt = Attempt(spec)
    try:
        detail = _RUNNERS[spec.kind](attempt)
    except Failure as failure:
        return attempt.outcome(failure)
    except Exception as exc:  # a probe reports, it never takes the sweep down
        return attempt.outcome(Failure(ErrorKind.OTHER, f"{type(exc).__name__}: {exc}"))
    return attempt.outcome(None, detail)


def probe_dns(attempt: Attempt) -> str:
    attempt.resolve()
    addresses = ", ".join(attempt.resolved)
    return f"{attempt.spec.target_host} resolves to {addresses}"


def probe_tcp(attempt: Attempt) -> str:
    sock = attempt.connect(attempt.resolve())
    sock.close()
    return f"Connected to {attempt.where()} in {attempt.timings['connect_ms']:.1f} ms"


_RUNNERS = {
    ProbeKind.DNS: probe_dns,
    ProbeKind.TCP: probe_tcp,
    ProbeKind.HTTP: probe_http,
    ProbeKind.POSTGRES: probe_postgres,
    ProbeKind.REDIS: probe_redis,
}
