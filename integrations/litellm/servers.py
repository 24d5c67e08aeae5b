"""A LiteLLM server: its client, its queue, its "Test connection" and the models it reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.checks import ServerCheck, health_first
from integrations.http import VendorError, VendorHTTPError, public_url
from integrations.litellm.client import LiteLLMClient, normalise_base_url
from integrations.litellm.errors import master_key_rejected
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
    """ "Test connection": the keyless liveliness path probed and explained from the server's
    network first (integrations.checks.health_first), then the version and the models
    discovered with the master key (recorded on the row); a refused master key is named."""
    now = timezone.now()
    check = health_first(
        vendor=VENDOR,
        health_url=_liveliness_url(server),
        preset="litellm_liveliness",
        network=server.network,
    ) or _check_with_the_key(server, now)
    server.check_status = (
        CheckStatus.OK
        if check.ok
        else CheckStatus.KEY_REJECTED
        if check.credential_rejected
        else CheckStatus.FAILED
    )
    server.checked_at = now
    server.check_diagnosis = f"{check.diagnosis} {check.fix}".strip()
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


def _liveliness_url(server: LiteLLMServer) -> str:
    try:
        return public_url(normalise_base_url(server.base_url)).rstrip("/") + "/health/liveliness"
    except ValueError:
        return server.base_url  # the probe says what is wrong with it


def _check_with_the_key(server: LiteLLMServer, now: datetime) -> ServerCheck:
    try:
        with client_for(server) as client:
            client.liveliness()
            readiness = client.readiness()
            deployments = client.model_info()
            models_store(server=server, deployments=deployments, now=now)
    except VendorHTTPError as exc:
        if not master_key_rejected(exc.status, exc.vendor_message):
            return ServerCheck(
                vendor=VENDOR, reachable=True, ok=False, diagnosis=str(exc), network=server.network
            )
        return ServerCheck(
            vendor=VENDOR,
            reachable=True,
            ok=False,
            credential_rejected=True,
            diagnosis=f"LiteLLM at {public_url(server.base_url)} answers, but it rejected the master key "
            f"(HTTP {exc.status}: {exc.vendor_message or 'no reason given'}).",
            fix="Enter this proxy's master key (its LITELLM_MASTER_KEY, or general_settings.master_key in "
            "its config) in the server's master key field: a proxy without a database answers any other "
            'key with 400 "No connected db.".',
            network=server.network,
        )
    except (VendorError, ValueError) as exc:
        return ServerCheck(
            vendor=VENDOR, reachable=False, ok=False, diagnosis=str(exc), network=server.network
        )
    names = sorted({d.model_name for d in deployments})
    server.litellm_version = readiness.litellm_version[:50]
    server.db_status = readiness.db[:50]
    server.models_synced_at = now
    return ServerCheck(
        vendor=VENDOR,
        reachable=True,
        ok=True,
        diagnosis=f"Connection successful: LiteLLM {readiness.litellm_version or '(version unknown)'}, "
        f"{len(names)} models discovered.",
        version=readiness.litellm_version,
        details={"db": readiness.db},
        models=tuple(names),
        network=server.network,
    )


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
    added = updated = 0
    seen: set[str] = set()
    with transaction.atomic():
        # Two stores of one server at once (a sync and a "Test connection", or two first syncs)
        # take turns on the server row: the second reads the rows the first committed and
        # updates them, instead of inserting them again and failing on the unique model ID.
        list(LiteLLMServer.objects.select_for_update().filter(pk=server.pk).values_list("pk"))
        existing = {m.model_id: m for m in LiteLLMModel.objects.filter(server=server)}
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
