"""LiteLLM's own words in an error answer, from its three envelopes (§0)."""

from __future__ import annotations

import json
from typing import Any

import requests

from integrations.http import error_message_from


def litellm_error_message(response: requests.Response) -> str:
    """LiteLLM's own words from its three envelopes (§0): E-OAI, E-DETAIL, E-422."""
    return without_key_echo(error_message_from(response, limit=300, from_envelope=_words))


def _words(body: dict[str, Any]) -> str | None:
    """The words in a JSON object LiteLLM answered, or None where it has no envelope of ours."""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        inner = detail.get("error", detail.get("message"))
        return inner if isinstance(inner, str) else json.dumps(detail)[:300]
    if isinstance(detail, list):  # E-422: [{"type","loc","msg"}]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                msg = str(item.get("msg", ""))
                parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return None


def master_key_rejected(status: int | None, vendor_message: str) -> bool:
    """LiteLLM answered, and refused the key it was given as not its master key.

    The contract's proxy answers 401 (403 behind some auth layers). The real proxy WITHOUT a
    database answers 400 "No connected db." instead: a key that is not the master key can only
    be a virtual key, and with no database there is nowhere to look it up
    (litellm 1.106.2, proxy/auth/user_api_key_auth.py, user_api_key_auth_builder:
    `if prisma_client is None: raise ProxyException(message="No connected db.",
    type=ProxyErrorTypes.no_db_connection, code=400)`).
    """
    if status in (401, 403):
        return True
    lowered = vendor_message.lower()
    return status == 400 and ("no connected db" in lowered or "no_db_connection" in lowered)


def without_key_echo(vendor_message: str) -> str:
    """LiteLLM's words without what it echoes of the key it was given: its 401 goes on
    "Received API Key = sk-...ab12, Key Hash (Token) =<sha256 of the key>"
    (proxy/auth/user_api_key_auth.py); neither belongs in a page, a key's last action or a log."""
    reason = vendor_message.split("Received API Key", 1)[0].split("Key Hash", 1)[0]
    if len(reason) < len(vendor_message):  # cut: drop the separator left before the echo
        reason = reason.rstrip(" .,;:")
    return reason.strip()
