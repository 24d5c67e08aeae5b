"""The health checks that follow from what is configured: every LiteLLM and LibreChat server
row gets its health path checked from the network its calls run on, and a pairing gets LiteLLM
checked at the address LibreChat's containers use (its baseURL), from LibreChat's network.

Kept in step by receivers (server_signals.py) when a row is added, changed or removed, and by
the bootstrap step for a database that predates them. Connectivity reads the integrations'
and the access app's rows; none of them knows connectivity (docs/architecture.md). Connectivity
knows these vendors as preset data only (probes.PRESETS), never their clients.

An auto-made check carries no secret: its address is the server's scheme, host, port and path
only, never a user, password or query. An operator's edit of a check stands: a field is set
again only when the server's own value behind it moves (`Target.configured_as`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from integrations.http import public_url
from integrations.litellm.client import normalise_base_url
from portal.connectivity.models import Network, State, Target, TargetNetwork
from portal.connectivity.probes import PRESETS

if TYPE_CHECKING:
    from integrations.librechat.models import LibreChatServer
    from integrations.litellm.models import LiteLLMServer
    from portal.access.models import Pairing

# Server kind -> the preset of its health path that needs no key (a check never holds a secret).
SERVER_PRESETS = {
    "litellm": "litellm_liveliness",  # /health/liveliness
    "librechat": "librechat_health",  # /health
}
PAIRING_PRESET = "litellm_liveliness"
Row = TypeVar("Row")


@dataclass(frozen=True)
class ConfiguredCheck:
    """One check a configured row asks for."""

    key: str  # Target.configured_by: "litellm:3", "librechat:1", "pairing:2"
    name: str
    preset: str
    address: str  # the health URL, without any credential
    network: str


def server_check_name(server_name: str, preset_name: str) -> str:
    preset = PRESETS[preset_name]
    return f"{preset.label} {server_name}: {preset.path}"[:120]


def health_address(base_url: str, preset_name: str) -> str:
    """The preset's health path under `base_url`, with no user, password, query or fragment
    (a check's address is shown in pages and reports). Raises ValueError on a non-URL."""
    if preset_name.startswith("litellm"):
        base_url = normalise_base_url(base_url)  # the proxy root, with or without /v1
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    root = public_url(base_url.strip()).rstrip("/")
    return f"{root}{PRESETS[preset_name].path}"


_KEY_LABELS = {"litellm": "LiteLLM server", "librechat": "LibreChat server", "pairing": "pairing"}


def configured_by_label(key: str) -> str:
    """`litellm:3` as an operator reads it: the check follows that row's address and network."""
    kind, _, pk = key.partition(":")
    if kind not in _KEY_LABELS:
        return "added by hand"
    return f"{_KEY_LABELS[kind]} #{pk} (address and network follow it)"


def litellm_key(server_pk: int) -> str:
    return f"litellm:{server_pk}"


def librechat_key(server_pk: int) -> str:
    return f"librechat:{server_pk}"


def pairing_key(pairing_pk: int) -> str:
    return f"pairing:{pairing_pk}"


def litellm_server_check(server: LiteLLMServer) -> ConfiguredCheck:
    preset = SERVER_PRESETS["litellm"]
    return ConfiguredCheck(
        key=litellm_key(server.pk),
        name=server_check_name(server.name, preset),
        preset=preset,
        address=health_address(server.base_url, preset),
        network=server.network,
    )


def librechat_server_check(server: LibreChatServer) -> ConfiguredCheck:
    preset = SERVER_PRESETS["librechat"]
    return ConfiguredCheck(
        key=librechat_key(server.pk),
        name=server_check_name(server.name, preset),
        preset=preset,
        address=health_address(server.api_url, preset),
        network=server.network,
    )


def pairing_check(pairing: Pairing) -> ConfiguredCheck:
    """LiteLLM as LibreChat's containers reach it (the pairing's baseURL), from LibreChat's
    network: the one address no server row's own check covers."""
    chat = pairing.librechat_server
    base_url = pairing.litellm_url_for_librechat or pairing.litellm_server.base_url
    return ConfiguredCheck(
        key=pairing_key(pairing.pk),
        name=f"LiteLLM for LibreChat {chat.name}: {PRESETS[PAIRING_PRESET].path}"[:120],
        preset=PAIRING_PRESET,
        address=health_address(base_url, PAIRING_PRESET),
        network=chat.network,
    )


# --- keeping the checks in step ---------------------------------------------------------------


def configured_check_sync(check: ConfiguredCheck) -> str:
    """Create `check`'s target, or bring it in step with its row; one line saying what was done.

    The network row is created when missing: the server's calls run on its queue, so a worker
    must consume it anyway. A check `bootstrap` made before checks were tracked (same name,
    no owner) is adopted rather than doubled.
    """
    with transaction.atomic():
        network_row, _ = Network.objects.get_or_create(name=check.network)
        target = (
            Target.objects.select_for_update().filter(configured_by=check.key).first()
            or Target.objects.select_for_update().filter(name=check.name, configured_by="").first()
        )
        if target is None:
            return _check_create(check, network_row)
        return _check_follow(target, check, network_row)


def _check_create(check: ConfiguredCheck, network_row: Network) -> str:
    preset = PRESETS[check.preset]
    target = Target(
        name=check.name,
        preset=check.preset,
        address=check.address,
        keyword=preset.keyword or "",
        readiness_requires_db=preset.readiness_requires_db,
        configured_by=check.key,
        configured_as=_configured_as(check),
    )
    try:
        target.full_clean()
    except ValidationError as exc:
        return f"check {check.name!r} not created: {'; '.join(exc.messages)}"
    target.save()
    TargetNetwork.objects.create(target=target, network=network_row)
    return f"check {check.name!r} of {target.address} from {check.network} created"


def _check_follow(target: Target, check: ConfiguredCheck, network_row: Network) -> str:
    """Apply what moved on the configured row since the last sync; nothing else."""
    last = target.configured_as or (
        # Adopted: what it holds now counts as what was set, so an operator's edit stands.
        {
            "address": target.address,
            "name": target.name,
            "network": check.network if target.placements.filter(network=network_row).exists() else "",
        }
    )
    moved = []
    if check.address != last.get("address") and target.address != check.address:
        target.address, target.kind = check.address, ""  # save() derives the kind again
        moved.append(f"address {check.address}")
        # The state was about the old address: start afresh, checked on the next sweep.
        TargetNetwork.objects.filter(target=target).update(
            state=State.UNKNOWN, since=None, consecutive_failures=0, next_check_at=None
        )
    name_free = not Target.objects.filter(name=check.name).exclude(pk=target.pk).exists()
    if check.name != last.get("name") and target.name != check.name and name_free:
        target.name = check.name
        moved.append(f"name {check.name!r}")
    network_moved = check.network != last.get("network")
    if network_moved and _placement_move(target, old=str(last.get("network") or ""), new=network_row):
        moved.append(f"network {check.network}")
    target.configured_by, target.configured_as = check.key, _configured_as(check)
    target.save()
    if not moved:
        return f"check {target.name!r} of {target.address} from {check.network} in place"
    return f"check {target.name!r} follows its server: {', '.join(moved)}"


def _placement_move(target: Target, *, old: str, new: Network) -> bool:
    """Check `target` from `new` instead of `old`; placements on other networks are the
    operator's and stay. The history stays with the network it was seen from."""
    if old and old != new.name:
        TargetNetwork.objects.filter(target=target, network__name=old).delete()
    _, created = TargetNetwork.objects.get_or_create(target=target, network=new)
    return created


def _configured_as(check: ConfiguredCheck) -> dict[str, str]:
    return {"address": check.address, "name": check.name, "network": check.network}


def configured_checks_remove(*, key: str) -> int:
    """The row is gone: so is its check (and the check's history, which nobody can act on)."""
    removed, _ = Target.objects.filter(configured_by=key).delete()
    return removed


def _sync_or_say(make: Callable[[Row], ConfiguredCheck], row: Row) -> str:
    try:
        check = make(row)
    except ValueError as exc:
        return f"no check for {row}: {exc}"
    return configured_check_sync(check)


def litellm_server_changed(*, server: LiteLLMServer) -> list[str]:
    """The server's own check, and the pairing checks that reach LiteLLM at its URL."""
    lines = [_sync_or_say(litellm_server_check, server)]
    for pairing in server.pairings.select_related("librechat_server", "litellm_server"):
        lines.append(_sync_or_say(pairing_check, pairing))
    return lines


def librechat_server_changed(*, server: LibreChatServer) -> list[str]:
    """The server's own check, and its pairing's (checked from the server's network)."""
    from portal.access.models import Pairing

    lines = [_sync_or_say(librechat_server_check, server)]
    pairing = Pairing.objects.filter(librechat_server=server).select_related("litellm_server").first()
    if pairing is not None:
        lines.append(_sync_or_say(pairing_check, pairing))
    return lines


def pairing_changed(*, pairing: Pairing) -> list[str]:
    return [_sync_or_say(pairing_check, pairing)]


def configured_checks_sync_all() -> list[str]:
    """Every server's and pairing's check (bootstrap: a database from before the receivers)."""
    from integrations.librechat.models import LibreChatServer
    from integrations.litellm.models import LiteLLMServer
    from portal.access.models import Pairing

    lines = [_sync_or_say(litellm_server_check, s) for s in LiteLLMServer.objects.order_by("pk")]
    lines += [_sync_or_say(librechat_server_check, s) for s in LibreChatServer.objects.order_by("pk")]
    pairings = Pairing.objects.select_related("librechat_server", "litellm_server").order_by("pk")
    lines += [_sync_or_say(pairing_check, p) for p in pairings]
    return lines
