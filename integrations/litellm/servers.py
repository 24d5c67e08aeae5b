"""A LiteLLM server: its client, its queue, its "Test connection" and the models it reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.checks import ServerCheck
from integrations.http import VendorError
from integrations.litellm.client import (
    LiteLLMClient,
)
from integrations.litellm.models import (
    CheckStatus,
    LiteLLMModel,
    LiteLLMServer,
    ModelSource,
)
from portal.core.queues import network_queue_name

log = logging.getLogger(__name__)


VENDOR = "LiteLLM"


def client_for(server: LiteLLMServer) -> LiteLLMClient:
    master_key = server.master_key
    if not master_key:
        raise ValueError(f"LiteLLM server '{server.name}' has no master key")
    return LiteLLMClient(base_url=server.base_url, master_key=master_key.reveal())


def server_queue(server: LiteLLMServer) -> str:
    return network_queue_name(server.network)


def server_check(*, server: LiteLLMServer) -> ServerCheck:
    """ "Test connection": liveliness, version, and the models discovered (recorded on the row)."""
    now = timezone.now()
    try:
        with client_for(server) as client:
            client.liveliness()
            readiness = client.readiness()
            deployments = client.model_info()
            models_store(server=server, deployments=deployments, now=now)
    except (VendorError, ValueError) as exc:
        check = ServerCheck(vendor=VENDOR, reachable=False, ok=False, diagnosis=str(exc))
        server.check_status = CheckStatus.FAILED
    else:
        names = sorted({d.model_name for d in deployments})
        check = ServerCheck(
            vendor=VENDOR,
            reachable=True,
            ok=True,
            diagnosis=f"Connection successful: LiteLLM {readiness.litellm_version or '(version unknown)'}, "
            f"{len(names)} models discovered.",
            version=readiness.litellm_version,
            details={"db": readiness.db},
            models=tuple(names),
        )
        server.check_status = CheckStatus.OK
        server.litellm_version = readiness.litellm_version[:50]
        server.db_status = readiness.db[:50]
        server.models_synced_at = now
    server.checked_at = now
    server.check_diagnosis = check.diagnosis
    server.save(
        update_fields=[
            "check_status",
            "checked_at",
            "check_diagnosis",
            "litellm_version",
            "db_status",
            "models_synced_at",
        ]
    )
    return check


def server_health(*, server: LiteLLMServer) -> dict[str, Any]:
    """/health: every model called for real (it costs money), so on demand only."""
    with client_for(server) as client:
        report = client.health_check_models()
    healthy = sorted(str(e.get("model", "?")) for e in report.healthy)
    unhealthy = sorted(str(e.get("model", "?")) for e in report.unhealthy)
    return {"ok": not unhealthy, "healthy": healthy, "unhealthy": unhealthy}


# --- the models the server reports ------------------------------------------------------------


def models_store(*, server: LiteLLMServer, deployments: list[Any], now: datetime) -> tuple[int, int, int]:
    """Make the server's model rows match /model/info. Returns (added, updated, removed)."""
    existing = {m.model_id: m for m in LiteLLMModel.objects.filter(server=server)}
    added = updated = 0
    seen: set[str] = set()
    with transaction.atomic():
        for d in deployments:
            seen.add(d.model_id)
            values = {
                "model_name": d.model_name[:255],
                "provider_model": d.provider_model[:255],
                "source": ModelSource.DATABASE if d.db_model else ModelSource.CONFIG,
                "litellm_params": public_params(d.litellm_params),
                "last_synced_at": now,
            }
            row = existing.get(d.model_id)
            if row is None:
                LiteLLMModel.objects.create(server=server, model_id=d.model_id, **values)
                added += 1
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.save()
                updated += 1
        removed, _ = LiteLLMModel.objects.filter(server=server).exclude(model_id__in=seen).delete()
    return added, updated, removed


def public_params(params: Mapping[str, Any]) -> dict[str, Any]:
    # LiteLLM already removes api keys from /model/info (§3.2); drop anything key-like anyway.
    return {k: v for k, v in params.items() if "key" not in k.lower() and "secret" not in k.lower()}
