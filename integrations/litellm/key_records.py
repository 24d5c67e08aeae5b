"""What a feature built on LiteLLM (the people's keys of portal.access) needs from the keys
this integration keeps, without writing its rows itself:

- small writes to `VirtualKey` rows that record what was learnt elsewhere (a plan applied, a
  key LiteLLM lacks, a blocked flag seen in LiteLLM, a key found only in LiteLLM);
- `KeyInventory`: every key of a server as LiteLLM lists it, page by page, and a look-up of
  one key by hash, on one client (calls LiteLLM: run it in a task on the server's network).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from integrations.litellm.client import MAX_PAGE_SIZE
from integrations.litellm.keys import MANAGED_BY
from integrations.litellm.models import KeyOrigin, KeyPlan, KeyStatus, LiteLLMServer, VirtualKey
from integrations.litellm.servers import client_for


def key_plan_record(*, key_id: int, plan: KeyPlan) -> None:
    """The plan's limits were applied to the key in LiteLLM: the row names the plan."""
    VirtualKey.objects.filter(pk=key_id).update(plan=plan)


def key_missing_record(*, key_id: int, token_hash: str) -> None:
    """LiteLLM no longer has the key (a reconcile confirmed it by hash)."""
    VirtualKey.objects.filter(pk=key_id, token_hash=token_hash).update(status=KeyStatus.MISSING)


def key_blocked_record(*, key_id: int, blocked: bool) -> None:
    """The row learns the blocked flag LiteLLM holds."""
    VirtualKey.objects.filter(pk=key_id).update(blocked=blocked)


def key_found_record(*, server: LiteLLMServer, token_hash: str) -> VirtualKey:
    """The key's row, made when only LiteLLM knows the key (never synced): a row to hang a
    deletion on."""
    key = VirtualKey.objects.filter(server=server, token_hash=token_hash).first()
    if key is None:
        key = VirtualKey.objects.create(
            server=server, token_hash=token_hash, origin=KeyOrigin.FOUND, status=KeyStatus.ACTIVE
        )
    return key


@dataclass(frozen=True)
class ListedKey:
    token_hash: str
    blocked: bool
    metadata: dict[str, Any]

    @property
    def managed_by_portal(self) -> bool:
        return self.metadata.get("managed_by") == MANAGED_BY


class KeyInventory:
    """A server's keys as LiteLLM lists them; counts its list calls (for reports and benchmarks)."""

    def __init__(self, server: LiteLLMServer) -> None:
        self._client = client_for(server)
        self.list_calls = 0

    def __enter__(self) -> KeyInventory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client.close()

    def all_keys(self) -> list[ListedKey]:
        listed: list[ListedKey] = []
        page = 1
        while True:
            answer = self._client.key_list(page=page, size=MAX_PAGE_SIZE)
            self.list_calls += 1
            listed += [ListedKey(info.token, info.blocked, dict(info.metadata)) for info in answer.keys]
            if page >= answer.total_pages or not answer.keys:
                return listed
            page += 1

    def has_key(self, *, token_hash: str) -> bool:
        return self._client.key_find(token_hash=token_hash) is not None
