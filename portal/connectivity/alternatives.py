"""Find a working address: when a target fails, try the other ways the same service may be
reached from the same network, all at once, and show which answered.

The seeds' first deployment is the model: `192.168.1.131:4000` timed out from the container,
`localhost` failed, `host.docker.internal:4000` worked.

A password was entered for the target's own host, so an alternative is probed without the
target's username and password: a guessed `postgres` or `host.docker.internal` may be anyone's.
A server there that refuses the missing login still proves something answers at that address
("answers, credentials not tried"), which is what the operator needs to know.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from portal.connectivity.diagnosis import HOST_GATEWAY_NAME, NetworkContext
from portal.connectivity.probes import PRESETS, ErrorKind, ProbeOutcome, ProbeSpec
from portal.connectivity.sweep import MAX_WORKERS, run_sweep

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
CREDENTIALS_NOT_TRIED = "answers, credentials not tried"


def candidate_addresses(
    spec: ProbeSpec,
    context: NetworkContext,
    extra_hosts: Iterable[str] = (),
    *,
    service_names: Iterable[str] = (),
    guess: bool = True,
) -> list[ProbeSpec]:
    """The same check (port, path, scheme; never the credentials) on other hosts, most likely first:
    service names (given, then the preset's), then from a container host.docker.internal
    and the network's gateway, the host addresses listed on the context, then `extra_hosts`.
    Deduplicated, without the failed host, and without loopback in a container. With
    `guess` off only the addresses someone listed are tried (no well-known names, no
    host.docker.internal, no gateway)."""
    if spec.is_unix_socket:
        return []
    preset = PRESETS.get(spec.preset or "")
    # The Docker host seen from a container; meaningless when the probe runs on the host.
    host_gateway = [HOST_GATEWAY_NAME, context.gateway or ""] if context.in_container and guess else []
    well_known_names = preset.service_names if preset and guess else ()
    hosts = [
        *service_names,
        *well_known_names,
        *host_gateway,
        *context.host_addresses,
        *extra_hosts,
    ]
    seen = {spec.target_host.lower()}
    candidates = []
    for host in hosts:
        key = host.strip().lower()
        if not key or key in seen or (context.in_container and key in _LOOPBACK):
            continue
        seen.add(key)
        candidates.append(replace(spec.with_host(host.strip()), username=None, password=None))
    return candidates


def probe_alternatives(candidates: list[ProbeSpec], *, max_workers: int = MAX_WORKERS) -> list[ProbeOutcome]:
    """Probe the candidates concurrently; a refused login counts as an answer (see above)."""
    outcomes = run_sweep(candidates, max_workers=max_workers)
    return [
        replace(outcome, ok=True, detail=f"{outcome.target} {CREDENTIALS_NOT_TRIED} ({outcome.detail})")
        if outcome.error_kind is ErrorKind.AUTH_FAILED
        else outcome
        for outcome in outcomes
    ]


def find_working_address(
    spec: ProbeSpec,
    context: NetworkContext,
    extra_hosts: Iterable[str] = (),
    *,
    service_names: Iterable[str] = (),
    timeout: float | None = None,
    max_workers: int = MAX_WORKERS,
) -> list[tuple[ProbeSpec, ProbeOutcome]]:
    """Probe every candidate concurrently; (candidate, outcome) in candidate order.

    `timeout` overrides the spec's for the candidates: a wrong guess should not cost the
    full timeout of a slow health check.
    """
    candidates = candidate_addresses(spec, context, extra_hosts, service_names=service_names)
    if timeout is not None:
        candidates = [replace(c, timeout=timeout) for c in candidates]
    outcomes = probe_alternatives(candidates, max_workers=max_workers)
    return list(zip(candidates, outcomes, strict=True))
