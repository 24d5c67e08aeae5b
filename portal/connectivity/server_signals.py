"""Configured servers and pairings bring their health checks: created with the row, moved with
its address or network, removed with it (server_checks.py says what is checked)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import LiteLLMServer
from portal.access.models import Pairing
from portal.connectivity import server_checks

# A save that touches none of these (a check's status, a sync's time) changes no check.
_CHECKED_FIELDS = {"name", "base_url", "api_url", "network", "litellm_url_for_librechat"}


def _may_move(update_fields: Iterable[str] | None) -> bool:
    return update_fields is None or bool(_CHECKED_FIELDS & set(update_fields))


@receiver(post_save, sender=LiteLLMServer, dispatch_uid="connectivity_litellm_server_checks")
def litellm_server_saved(sender: Any, instance: LiteLLMServer, raw: bool = False, **kwargs: Any) -> None:
    if not raw and _may_move(kwargs.get("update_fields")):
        server_checks.litellm_server_changed(server=instance)


@receiver(post_delete, sender=LiteLLMServer, dispatch_uid="connectivity_litellm_server_checks_gone")
def litellm_server_deleted(sender: Any, instance: LiteLLMServer, **kwargs: Any) -> None:
    server_checks.configured_checks_remove(key=server_checks.litellm_key(instance.pk))


@receiver(post_save, sender=LibreChatServer, dispatch_uid="connectivity_librechat_server_checks")
def librechat_server_saved(sender: Any, instance: LibreChatServer, raw: bool = False, **kwargs: Any) -> None:
    if not raw and _may_move(kwargs.get("update_fields")):
        server_checks.librechat_server_changed(server=instance)


@receiver(post_delete, sender=LibreChatServer, dispatch_uid="connectivity_librechat_server_checks_gone")
def librechat_server_deleted(sender: Any, instance: LibreChatServer, **kwargs: Any) -> None:
    server_checks.configured_checks_remove(key=server_checks.librechat_key(instance.pk))


@receiver(post_save, sender=Pairing, dispatch_uid="connectivity_pairing_checks")
def pairing_saved(sender: Any, instance: Pairing, raw: bool = False, **kwargs: Any) -> None:
    if not raw:  # a pairing's every field may move its check (its servers, its baseURL)
        server_checks.pairing_changed(pairing=instance)


@receiver(post_delete, sender=Pairing, dispatch_uid="connectivity_pairing_checks_gone")
def pairing_deleted(sender: Any, instance: Pairing, **kwargs: Any) -> None:
    server_checks.configured_checks_remove(key=server_checks.pairing_key(instance.pk))
