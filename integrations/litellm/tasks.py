"""Celery tasks: take ids, load rows, call one service. Results hold no secrets.

Vendor calls run on the server's network queue (`network_queue_name(server.network)`);
the beat jobs run on the default queue and only dispatch.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations.litellm import key_work, model_list, rotation, servers, spend_history, spend_windows, sync
from integrations.litellm.models import LiteLLMModel, LiteLLMServer


@shared_task(name="litellm.key_apply_pending")
def key_apply_pending(key_id: int) -> dict[str, Any]:
    return key_work.key_apply_pending(key_id=key_id).as_result()


@shared_task(name="litellm.keys_due", ignore_result=True)
def keys_due() -> int:
    """Beat: wake a worker for every key whose pending action is due (lost messages, retries)."""
    due = key_work.keys_due()
    for key_id, queue_name in due:
        key_apply_pending.apply_async(kwargs={"key_id": key_id}, queue=queue_name)
    return len(due)


@shared_task(name="litellm.rotations_in_grace_due", ignore_result=True)
def rotations_in_grace_due() -> int:
    """Beat: rotations whose old key works for a grace period get their turn (the shared
    budget follows the use; at the end the old key's spend moves over and it is deleted)."""
    return rotation.rotations_in_grace_due()


@shared_task(name="litellm.spend_history_prune", ignore_result=True)
def spend_history_prune() -> int:
    return spend_history.spend_history_prune()


@shared_task(name="litellm.server_check")
def server_check(server_id: int) -> dict[str, Any]:
    server = LiteLLMServer.objects.get(pk=server_id)
    return servers.server_check(server=server).as_result()


@shared_task(name="litellm.server_health")
def server_health(server_id: int) -> dict[str, Any]:
    """/health on demand only: it calls every model for real (it costs money)."""
    server = LiteLLMServer.objects.get(pk=server_id)
    try:
        return servers.server_health(server=server)
    except Exception as exc:
        return {"ok": False, "detail": str(exc)}


# A million keys are 10,000 pages: far past the default task time limit.
SYNC_TIME_LIMIT = 3 * 3600


@shared_task(name="litellm.server_sync", soft_time_limit=SYNC_TIME_LIMIT, time_limit=SYNC_TIME_LIMIT + 60)
def server_sync(server_id: int) -> dict[str, Any]:
    from django.core.cache import cache

    server = LiteLLMServer.objects.get(pk=server_id)
    # One sync per server at a time (the beat job and "Sync now" can overlap); the lock
    # expires with the time limit, so a killed worker cannot hold it forever.
    lock = f"litellm:sync:{server_id}"
    if not cache.add(lock, "1", timeout=SYNC_TIME_LIMIT + 60):
        return {"ok": True, "detail": "a sync of this server is already running"}
    try:
        report = sync.keys_sync(server=server)
    except Exception as exc:  # the outcome belongs on the row either way
        LiteLLMServer.objects.filter(pk=server_id).update(sync_status=f"Sync failed: {exc}"[:2000])
        return {"ok": False, "detail": str(exc)}
    finally:
        cache.delete(lock)
    return {"ok": True, "detail": str(report), **report.as_result()}


@shared_task(name="litellm.servers_sync", ignore_result=True)
def servers_sync() -> int:
    """Beat: one sync per server, each on its own network's queue."""
    every_server = list(LiteLLMServer.objects.all())
    for server in every_server:
        server_sync.apply_async(kwargs={"server_id": server.pk}, queue=servers.server_queue(server))
    return len(every_server)


@shared_task(name="litellm.model_add")
def model_add(
    server_id: int, model_name: str, provider_model: str, api_key_env: str = "", api_base: str = ""
) -> dict[str, Any]:
    server = LiteLLMServer.objects.get(pk=server_id)
    try:
        row = model_list.model_add(
            server=server,
            model_name=model_name,
            provider_model=provider_model,
            api_key_env=api_key_env,
            api_base=api_base,
        )
    except Exception as exc:
        return {"ok": False, "detail": str(exc)}
    return {
        "ok": True,
        "detail": f"Model '{row.model_name}' added (id {row.model_id})",
        "model_id": row.model_id,
    }


@shared_task(name="litellm.model_delete")
def model_delete(model_pk: int) -> dict[str, Any]:
    model = LiteLLMModel.objects.select_related("server").get(pk=model_pk)
    name = model.model_name
    try:
        model_list.model_delete(model=model)
    except Exception as exc:
        return {"ok": False, "detail": str(exc)}
    return {"ok": True, "detail": f"Model '{name}' deleted"}


@shared_task(name="litellm.spend_windows_refresh", ignore_result=True)
def spend_windows_refresh() -> int:
    return spend_windows.spend_windows_refresh()
