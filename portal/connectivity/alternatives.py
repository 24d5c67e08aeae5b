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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from portal.connectivity.diagnosis import HOST_GATEWAY_NAME, NetworkContext
from portal.connectivity.probes import PRESETS, ProbeKind, ProbeOutcome, ProbeSpec
from portal.connectivity.sweep import CREDENTIALS_NOT_TRIED, MAX_WORKERS, probe_alternative

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
# Enough for every clue a network gives; a hosts file of hundreds of names is not a list to scan.
MAX_CANDIDATES = 16


def guessed_service_names(spec: ProbeSpec) -> list[str]:
    """The names the service usually has on a Docker network, from its preset, else from
    what its path and port give away (`/health/liveliness` on 4000 is LiteLLM, 3080 is
    LibreChat, 5432 PostgreSQL, 6379 Redis): a path match first, it says more than a port."""
    named = PRESETS.get(spec.preset or "")
    # "/health" alone is everyone's; a path of two segments (/health/liveliness, /api/tags) is a signature.
    by_path = [
        p
        for p in PRESETS.values()
        if spec.kind is p.kind and p.path.count("/") > 1 and _path_of(spec) == p.path
    ]
    by_port = [p for p in PRESETS.values() if spec.kind is p.kind and spec.target_port == p.port]
    presets = [named] if named else []
    return [name for preset in (*presets, *by_path, *by_port) for name in preset.service_names]


def candidate_addresses(
    spec: ProbeSpec,
    context: NetworkContext,
    extra_hosts: Iterable[str] = (),
    *,
    service_names: Iterable[str] = (),
    guess: bool = True,
    neighbours: Iterable[tuple[str, int | None]] = (),
    reported_names: Iterable[str] = (),
    reported_addresses: Iterable[str] = (),
) -> list[ProbeSpec]:
    """The same check (port, path, scheme; never the credentials) on other hosts, most likely
    first: the target's own service names; the names of the other targets on the same network
    and port (`neighbours`: (host, port)); the service's usual names (its preset, or what its
    port and path give away); the names this network's worker has in its hosts file and the
    addresses other networks' workers report; then, from a container, host.docker.internal and
    the gateway; the host addresses listed on the context; `extra_hosts`. Deduplicated, at most
    MAX_CANDIDATES, without the failed host, and without loopback in a container. With `guess`
    off only the addresses someone listed are tried (own service names, host addresses, extra
    hosts)."""
    if spec.is_unix_socket:
        return []
    port = spec.target_port
    # The Docker host seen from a container; meaningless when the probe runs on the host.
    host_gateway = [HOST_GATEWAY_NAME, context.gateway or ""] if context.in_container and guess else []
    clues = (
        [
            *(host for host, their_port in neighbours if their_port == port),
            *guessed_service_names(spec),
            *reported_names,
            *reported_addresses,
        ]
        if guess
        else []
    )
    hosts = [*service_names, *clues, *host_gateway, *context.host_addresses, *extra_hosts]
    seen = {spec.target_host.lower()}
    candidates = []
    for host in hosts:
        key = host.strip().lower()
        if not key or key in seen or (context.in_container and key in _LOOPBACK):
            continue
        seen.add(key)
        candidates.append(replace(spec.with_host(host.strip()), username=None, password=None))
    return candidates[:MAX_CANDIDATES]


def finding_sentence(network: str, tried: Iterable[tuple[ProbeSpec, ProbeOutcome]]) -> str:
    """What the finder found, and from which network it works: "" when nothing answered."""
    answered = next((outcome for _, outcome in tried if outcome.ok), None)
    if answered is None:
        return ""
    untried = " (credentials not tried)" if CREDENTIALS_NOT_TRIED in answered.detail else ""
    return f"From {network}, {answered.target} answers{untried}."


def _path_of(spec: ProbeSpec) -> str:
    return spec.path.partition("?")[0] if spec.kind is ProbeKind.HTTP else ""


def probe_alternatives(candidates: list[ProbeSpec], *, max_workers: int = MAX_WORKERS) -> list[ProbeOutcome]:
    """Probe the candidates concurrently; a refused login counts as an answer (see above)."""
    if not candidates:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(len(candidates), max_workers))) as pool:
        return list(pool.map(probe_alternative, candidates))


def find_working_address(
    spec: ProbeSpec,
    context: NetworkContext,
    extra_hosts: Iterable[str] = (),
    *,
    service_names: Iterable[str] = (),
    timeout: float | None = None,
    max_workers: int = MAX_WORKERS,
    guess: bool = True,
    neighbours: Iterable[tuple[str, int | None]] = (),
    reported_names: Iterable[str] = (),
    reported_addresses: Iterable[str] = (),
) -> list[tuple[ProbeSpec, ProbeOutcome]]:
    """Probe every candidate concurrently; (candidate, outcome) in candidate order.

    `timeout` overrides the spec's for the candidates: a wrong guess should not cost the
    full timeout of a slow health check. The clues are candidate_addresses' own.
    """
    candidates = candidate_addresses(
        spec,
        context,
        extra_hosts,
        service_names=service_names,
        guess=guess,
        neighbours=neighbours,
        reported_names=reported_names,
        reported_addresses=reported_addresses,
    )
    if timeout is not None:
        candidates = [replace(c, timeout=timeout) for c in candidates]
    outcomes = probe_alternatives(candidates, max_workers=max_workers)
    return list(zip(candidates, outcomes, strict=True))
