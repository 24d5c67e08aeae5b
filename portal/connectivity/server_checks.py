"""The health checks a LiteLLM or LibreChat server row asks for.

What is checked follows what is configured: a server the portal talks to gets its health
path checked from the network its calls run on; nothing else is enabled by default. One
function, so that whatever creates a server row (bootstrap today) asks for the same checks.
Connectivity knows these vendors as preset data only (probes.PRESETS), never their clients.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.connectivity.models import Network, Target, TargetNetwork
from portal.connectivity.probes import PRESETS

# Server kind -> the presets of the paths that need no key (a check never holds a secret).
SERVER_PRESETS = {
    "litellm": ("litellm_liveliness",),  # /health/liveliness
    "librechat": ("librechat_health",),  # /health
}


def server_check_name(server_name: str, preset_name: str) -> str:
    preset = PRESETS[preset_name]
    return f"{preset.label} {server_name}: {preset.path}"[:120]


def server_checks_ensure(*, kind: str, server_name: str, base_url: str, network: str) -> list[str]:
    """The health checks of the `kind` server at `base_url`, placed on its `network`.

    A check is created only when no target of its name exists, so an operator's edit (or
    "enabled" unticked) stands. The network row is created when missing: the server's
    calls run on its queue, so a worker must consume it anyway. Returns one line per check.
    """
    parts = urlsplit(base_url.strip())
    # No user, password or query: a check's address is shown in pages and reports.
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    root = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    lines = []
    with transaction.atomic():
        network_row, _ = Network.objects.get_or_create(name=network)
        for preset_name in SERVER_PRESETS[kind]:
            preset = PRESETS[preset_name]
            name = server_check_name(server_name, preset_name)
            if Target.objects.filter(name=name).exists():
                lines.append(f"check {name!r} already there")
                continue
            target = Target(
                name=name,
                preset=preset_name,
                address=f"{root}{preset.path}",
                keyword=preset.keyword or "",
                readiness_requires_db=preset.readiness_requires_db,
            )
            try:
                target.full_clean()
            except ValidationError as exc:
                lines.append(f"check {name!r} not created: {'; '.join(exc.messages)}")
                continue
            target.save()
            TargetNetwork.objects.create(target=target, network=network_row)
            lines.append(f"check {name!r} of {target.address} from {network} created")
    return lines
