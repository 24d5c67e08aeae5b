"""Is an address reachable from a network, and if not, why and what to do: the question a
server's "Test connection" asks the connectivity app without importing it.

An integration may not import a feature app (docs/architecture.md), yet its "Test connection"
must give the same answer connectivity's checks give: the same probe, the same diagnosis and
the same finder of a working address. So the kit holds only the question's shape and a slot;
connectivity fills the slot in its AppConfig.ready() (`explainer_register`) and the
integrations ask through `address_explain`. Nothing here probes anything.

The address asked about is a health path that needs no credential: the explainer never gets
a secret, so neither the probe nor the alternatives it tries can carry one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reachability:
    reachable: bool  # the health path answered as the service's health path does
    summary: str  # one sentence: what was seen, and why
    fix: str = ""  # one sentence: what to change (empty when reachable)
    kind: str = ""  # the diagnosis class, e.g. "service_down_or_wrong_port"
    working_address: str = ""  # an alternative that answered from the same network
    network: str = ""  # where the probe ran
    answered: bool = False  # an HTTP answer came back, healthy or not: the service is there


# (url, preset, network) -> Reachability. `preset` names a known service's health check.
Explainer = Callable[..., Reachability]

_explainer: list[Explainer] = []


def explainer_register(explainer: Explainer) -> None:
    """Install the one explainer (connectivity's); registering again replaces it."""
    _explainer[:] = [explainer]


def address_explain(*, url: str, preset: str, network: str, timeout: float) -> Reachability | None:
    """Probe `url` (a health path, no credential in it) from `network` and explain the outcome;
    None when no explainer is installed (connectivity not among the installed apps)."""
    if not _explainer:
        return None
    return _explainer[0](url=url, preset=preset, network=network, timeout=timeout)
