"""Known services' health checks: data only, no vendor client here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from portal.connectivity.probes.spec import ProbeKind, ProbeSpec, bracket


@dataclass(frozen=True)
class Preset:
    """What a known service's health check looks like. Data only: no vendor client here."""

    kind: ProbeKind
    port: int
    path: str = ""
    keyword: str | None = None
    readiness_requires_db: bool = False
    service_names: tuple[str, ...] = ()  # names it usually has on a Docker network
    label: str = ""


# Health paths: contracts/litellm.md ("Health shapes") and contracts/librechat.md ("Health").
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "litellm_liveliness": Preset(
            kind=ProbeKind.HTTP,
            port=4000,
            path="/health/liveliness",  # answers 200 "I'm alive!" (a JSON string)
            keyword="alive",
            service_names=("litellm",),
            label="LiteLLM",
        ),
        "litellm_readiness": Preset(
            kind=ProbeKind.HTTP,
            port=4000,
            path="/health/readiness",  # 200 {"status": "healthy", "db": "connected" | ...}
            readiness_requires_db=True,
            service_names=("litellm",),
            label="LiteLLM",
        ),
        "librechat_health": Preset(
            kind=ProbeKind.HTTP,
            port=3080,
            path="/health",  # text OK; there is no /api/health
            keyword="OK",
            service_names=("librechat-api", "librechat"),
            label="LibreChat",
        ),
        "ollama_tags": Preset(
            kind=ProbeKind.HTTP,
            port=11434,
            path="/api/tags",
            keyword='"models"',
            service_names=("ollama",),
            label="Ollama",
        ),
        "postgres": Preset(
            kind=ProbeKind.POSTGRES, port=5432, service_names=("postgres", "db"), label="PostgreSQL"
        ),
        "redis": Preset(kind=ProbeKind.REDIS, port=6379, service_names=("redis",), label="Redis"),
    }
)


def preset_choice_label(name: str) -> str:
    """ "LiteLLM liveliness (HTTP /health/liveliness, port 4000)": what a preset checks, in words."""
    preset = PRESETS[name]
    what = name.split("_", 1)[1].replace("_", " ") if "_" in name else ""
    check = f"HTTP {preset.path}" if preset.kind is ProbeKind.HTTP else "connect and log in"
    return f"{preset.label} {what}".strip() + f" ({check}, port {preset.port})"


def spec_from_preset(
    name: str,
    host: str,
    *,
    port: int | None = None,
    scheme: str = "http",
    readiness_requires_db: bool | None = None,
    **options: Any,
) -> ProbeSpec:
    """A spec for a preset on `host`. LiteLLM readiness wants the database unless told
    otherwise (`readiness_requires_db=False` for a deployment without one)."""
    preset = PRESETS[name]
    port = port or preset.port
    if readiness_requires_db is None:
        readiness_requires_db = preset.readiness_requires_db
    if preset.kind is ProbeKind.HTTP:
        url = f"{scheme}://{bracket(host)}:{port}{preset.path}"
        options.setdefault("keyword", preset.keyword)
        return ProbeSpec(
            kind=preset.kind,
            url=url,
            readiness_requires_db=readiness_requires_db,
            preset=name,
            **options,
        )
    return ProbeSpec(kind=preset.kind, host=host, port=port, preset=name, **options)
