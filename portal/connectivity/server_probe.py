"""Connectivity's answer to the kit's reachability question (portal/core/reachability.py):
a server's "Test connection" gets the same probe, diagnosis and finder as connectivity's own
checks, run by the worker on the server's network.

Registered in ConnectivityConfig.ready(); the integrations ask through the kit, never by
importing this module. The address is a health path without credentials, and the finder
strips credentials from every alternative anyway (alternatives.candidate_addresses).
"""

from __future__ import annotations

from portal.connectivity.explain import explain
from portal.connectivity.models import Network
from portal.connectivity.probes import PRESETS, ProbeSpec
from portal.core.reachability import Reachability


def address_explain(*, url: str, preset: str, network: str, timeout: float) -> Reachability:
    """Probe `url` from here (the worker on `network`), diagnose a failure and look for an
    address that answers instead, through connectivity's one pipeline (explain.explain)."""
    known = PRESETS.get(preset)
    try:
        spec = ProbeSpec.from_url(
            url, timeout=timeout, keyword=known.keyword if known else None, preset=preset or None
        )
    except ValueError as exc:
        return Reachability(
            False, f"{url} cannot be probed: {exc}.", "Fix the server's address.", "unknown", network=network
        )
    # A server's network may have no row yet (its checks create it); the defaults then apply.
    network_row = Network.objects.filter(name=network).first() or Network(name=network)
    # here=True: this process is the one sending the packets, so its own facts describe them.
    explained = explain(spec, network=network_row, here=True)
    diagnosis, outcome = explained.diagnosis, explained.outcome
    if diagnosis.healthy or outcome.http_status is not None:
        # Healthy, or at least there and answering: no other address to look for.
        return Reachability(
            reachable=diagnosis.healthy,
            summary=f"{spec.target} answers from {network}." if diagnosis.healthy else diagnosis.summary,
            fix="" if diagnosis.healthy else diagnosis.fix,
            kind=diagnosis.kind.value,
            network=network,
            answered=True,
        )
    working = next((candidate.target for candidate, tried in explained.tried if tried.ok), "")
    return Reachability(
        reachable=False,
        summary=diagnosis.summary,
        fix=explained.fix,
        kind=diagnosis.kind.value,
        working_address=working,
        network=network,
    )
