"""What every step that tells LiteLLM about a key shares: the two ways a step stops (retry
later, fail for good), the key's hash, the fields of /key/generate, and the recovery after a
lost answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone

from integrations.http import VendorError
from integrations.litellm.client import (
    KeyInfo,
    LiteLLMClient,
    is_lost_answer,
)
from integrations.litellm.keys import key_metadata
from integrations.litellm.limits import KeyLimits
from integrations.litellm.models import (
    VirtualKey,
)

log = logging.getLogger(__name__)


class Retry(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Waiting(Exception):
    """The action stops here until someone else acts (a rotation waiting for its hand-over)
    or until a time (`until`: a grace period's next turn, handed out by the beat): not a
    failure, and nothing to retry; the row records where it waits."""

    def __init__(self, detail: str, *, until: datetime | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.until = until


class Fail(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def expires_duration(expires: datetime | None) -> str | None:
    if expires is None:
        return None
    seconds = int((expires - timezone.now()).total_seconds())
    return f"{max(seconds, 1)}s"


def generate_fields(
    key: VirtualKey, *, alias: str | None, duration: str | None, spend: float | None = None
) -> dict[str, Any]:
    # `spend`: /key/generate takes the new key's starting spend (LiteLLM 1.106.2,
    # litellm/proxy/_types.py GenerateRequestBase.spend; written to the key row by
    # generate_key_helper_fn in litellm/proxy/management_endpoints/key_management_endpoints.py).
    fields: dict[str, Any] = {
        "key_alias": alias or None,
        **KeyLimits.from_row(key).to_litellm(),
        "user_id": key.owner or None,
        "metadata": key_metadata(key),
        "blocked": key.blocked or None,
        "duration": duration,
        "spend": spend,
    }
    return {k: v for k, v in fields.items() if v is not None}


def recover(client: LiteLLMClient, token_hash: str, error: VendorError) -> KeyInfo:
    """After a failed POST: did LiteLLM write it anyway? Ask for the hash (§1).

    Also after a refusal: a worker killed after LiteLLM wrote the key leaves the retry to send
    the same key again, which LiteLLM refuses (the alias is taken, by that very key, §1). The
    raw key was generated here, so a key with its hash is ours."""
    worth_retrying = is_lost_answer(error) or error.retryable
    try:
        found = client.key_find(token_hash=token_hash or "")
    except VendorError as lookup_error:
        if not worth_retrying:
            raise error from None
        raise Retry(f"{error} (and the check whether it was written failed: {lookup_error})") from None
    if found is None:
        raise error
    return found


def token_hash_of(key: VirtualKey) -> str:
    if not key.token_hash:
        raise Fail("this key has no LiteLLM hash")
    return key.token_hash
