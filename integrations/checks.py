"""The one answer of a server's "Test connection", whichever vendor it is.

Both integrations' `servers.server_check` return a `ServerCheck`; the admin shows
`check_sentence(result)` (what was seen and what to do), a task returns `as_result()` (no
secrets).

Before any call that carries a credential, the server's keyless health path is probed from the
server's own network with the same probe, diagnosis and finder connectivity's checks use
(`health_first`, through the kit's reachability slot: an integration never imports a feature
app). So an unreachable server gets the diagnosis and its fix, alternatives are probed with no
credential at all, and the credential goes only to the configured address, only once its
health path answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.core.reachability import address_explain
from portal.core.results import result_of

# The health probe of "Test connection": short, so that probe, finder and the vendor's own
# calls fit in the few seconds the admin waits (LITELLM_ADMIN_WAIT_SECONDS, 5 by default).
HEALTH_PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class ServerCheck:
    vendor: str  # "LiteLLM", "LibreChat"
    reachable: bool  # the server answered at all
    ok: bool  # it answered and is ready for what the portal does with it
    diagnosis: str
    version: str = ""
    details: dict[str, str] = field(default_factory=dict)  # e.g. {"db": "connected"}
    models: tuple[str, ...] = ()
    fix: str = ""  # what to change, when not ok
    credential_rejected: bool = False  # it answered, and refused the portal's credential
    network: str = ""  # where the check ran from

    def as_result(self) -> dict[str, Any]:
        return result_of(self)


def health_first(*, vendor: str, health_url: str, preset: str, network: str) -> ServerCheck | None:
    """Probe the keyless `health_url` from `network`; a ServerCheck saying why when nothing
    answers there, None when it does (or when no explainer is installed): go on with the vendor
    calls. A server that answers with an error status is there: its own calls say more exactly
    what is wrong (a 503, a wrong path) than the health path can."""
    seen = address_explain(url=health_url, preset=preset, network=network, timeout=HEALTH_PROBE_SECONDS)
    if seen is None or seen.reachable or seen.answered:
        return None
    return ServerCheck(
        vendor=vendor, reachable=False, ok=False, diagnosis=seen.summary, fix=seen.fix, network=network
    )


def check_sentence(result: dict[str, Any]) -> str:
    """A Test connection's result (`ServerCheck.as_result()`) as the line an operator reads."""
    diagnosis = str(result.get("diagnosis") or "the check failed").strip()
    fix = str(result.get("fix") or "").strip()
    tail = f" Fix: {fix}" if fix else ""
    if result.get("credential_rejected"):
        return f"reachable, but its credential was rejected: {diagnosis}{tail}"
    if not result.get("reachable"):
        where = f" from {result['network']}" if result.get("network") else ""
        return f"not reachable{where}: {diagnosis}{tail}"
    details = result.get("details") or {}
    settings = "; ".join(f"{name}: {value}" for name, value in details.items())
    models = result.get("models")
    # Each part a sentence of its own: "... ready for new accounts. Settings: ...".
    lines = [(diagnosis if diagnosis.endswith((".", "!", "?")) else diagnosis + ".") + tail]
    if models is not None and result.get("vendor") == "LiteLLM" and result.get("ok"):
        lines.append(f"Models: {', '.join(models) or 'none'}.")
    if settings and result.get("vendor") == "LibreChat":
        lines.append(f"Settings: {settings}.")
    return " ".join(lines)
