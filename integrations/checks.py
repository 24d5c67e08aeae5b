"""The one answer of a server's "Test connection", whichever vendor it is.

Both integrations' `servers.server_check` return a `ServerCheck`; the admin shows
`diagnosis` (one sentence staff can act on), a task returns `as_result()` (no secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.core.results import result_of


@dataclass(frozen=True)
class ServerCheck:
    vendor: str  # "LiteLLM", "LibreChat"
    reachable: bool  # the server answered at all
    ok: bool  # it answered and is ready for what the portal does with it
    diagnosis: str
    version: str = ""
    details: dict[str, str] = field(default_factory=dict)  # e.g. {"db": "connected"}
    models: tuple[str, ...] = ()

    def as_result(self) -> dict[str, Any]:
        return result_of(self)
