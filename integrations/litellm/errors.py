"""LiteLLM's own words in an error answer, from its three envelopes (§0)."""

from __future__ import annotations

import json
from typing import Any

import requests

from integrations.http import error_message_from


def litellm_error_message(response: requests.Response) -> str:
    """LiteLLM's own words from its three envelopes (§0): E-OAI, E-DETAIL, E-422."""
    return error_message_from(response, limit=300, from_envelope=_words)


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
