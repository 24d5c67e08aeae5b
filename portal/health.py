"""Liveness and readiness endpoints for container orchestration and the load balancer.

/healthz answers while the process can answer at all (no dependency is touched, so a
database outage never gets the web containers restarted in a loop). /readyz names each
dependency as ok or down; the reasons are exception class names and hosts, never URLs
with credentials. `secrets` says which encrypted columns the configured FERNET_KEYS cannot
read (a wrong or missing key makes every login, key and session fail while all else looks up).
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


# Rows read per column at each end (newest, oldest): bounded however large the table and
# however few rows hold a value, so a probe every few seconds stays cheap.
SECRETS_SAMPLE_ROWS = 20


def _check_secrets() -> str:
    """Decrypt one value per encrypted column at its newest and its oldest end.

    The newest row catches a process writing with another key; the oldest, a key removed from
    FERNET_KEYS before rotate_encryption_keys finished. Names columns, never values.
    """
    from portal.crypto import DecryptionError, decrypt, encrypted_fields

    unreadable = []
    try:
        for model, field in encrypted_fields():
            column = model._base_manager.values_list(field.attname, flat=True)
            for ordering in ("-pk", "pk"):
                token = next((t for t in column.order_by(ordering)[:SECRETS_SAMPLE_ROWS] if t), None)
                if token is None:
                    continue  # the sample holds no value: nothing to read at this end
                try:
                    decrypt(token)
                except DecryptionError:
                    unreadable.append(f"{model.__name__}.{field.attname}")
                    break
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    if unreadable:
        return f"down: FERNET_KEYS cannot decrypt {', '.join(unreadable)}"
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
    database = _check_database()
    checks = {
        "database": database,
        "broker": _check_broker(),
        "secrets": _check_secrets() if database == "ok" else "not checked: database down",
    }
    ready = all(state == "ok" for state in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "broker_kind": "embedded" if settings.EMBEDDED_BROKER else "redis",
    }
    return JsonResponse(body, status=200 if ready else 503)
