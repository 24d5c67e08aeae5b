"""Liveness and readiness endpoints for container orchestration and the load balancer.

/healthz answers while the process can answer at all (no dependency is touched, so a
database outage never gets the web containers restarted in a loop). /readyz names each
dependency as ok or down; the reasons are exception class names and hosts, never URLs
with credentials.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def _check_broker() -> str:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(state == "ok" for state in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "broker_kind": "embedded" if settings.EMBEDDED_BROKER else "redis",
    }
    return JsonResponse(body, status=200 if ready else 503)
