"""LiteLLM proxy (v1.106.2) contract simulator.

A standard-library-only HTTP server that answers like the real LiteLLM proxy with a
connected database, following /work/shared/contracts/litellm.md ("the contract") to the
letter. Where the contract is silent the behaviour was read from LiteLLM 1.106.2's own
source (``litellm/proxy/...``); comments cite the contract section or source path.

In-process use::

    with LiteLLMSimulator(master_key="sk-master-0123456789") as sim:
        requests.post(f"{sim.base_url}/key/generate", headers=..., json={...})

As a separate process::

    python -m tests.simulators.litellm --port 4000 --master-key sk-... [--latency 0.2]

prints ``READY http://127.0.0.1:4000`` once listening. Tests in other processes drive it
through the control API under ``/_sim/`` (master key required), see ``_CONTROL_ROUTES``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import json
import math
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

LITELLM_VERSION: Final = "1.106.2"
PROXY_ADMIN_NAME: Final = "default_user_id"  # constants.LITELLM_PROXY_ADMIN_NAME
MASTER_KEY_ALIAS: Final = "litellm_proxy_master_key"  # constants.LITELLM_PROXY_MASTER_KEY_ALIAS
UI_SESSION_TEAM_ID: Final = "litellm-dashboard"  # constants.UI_SESSION_TOKEN_TEAM_ID
MODEL_CREATED_AT: Final = 1677610602  # constants.DEFAULT_MODEL_CREATED_AT_TIME
MIN_CUSTOM_KEY_LENGTH: Final = 16  # constants.MINIMUM_CUSTOM_KEY_LENGTH
GENERATED_KEY_BYTES: Final = 16  # constants.LENGTH_OF_LITELLM_GENERATED_KEY
RATE_LIMIT_WINDOW: Final = 60  # constants.LITELLM_RATE_LIMIT_WINDOW_SIZE
NOT_PREMIUM: Final = (  # _types.CommonProxyErrors.not_premium_user
    "You must be a LiteLLM Enterprise user to use this feature. If you have a license please "
    "set `LITELLM_LICENSE` in your env. Get a 7 day trial key here: "
    "https://www.litellm.ai/enterprise#trial. \nPricing: https://www.litellm.ai/#pricing"
)
DEFAULT_MOCK_RESPONSE: Final = "This is a mock response from the LiteLLM simulator."
DEFAULT_MODELS: Final[tuple[dict[str, Any], ...]] = (
    # contract "Running the REAL proxy here": the mock config
    {
        "model_name": "gpt-4o-mock",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": "sk-fake",
            "mock_response": "Hello from mock gpt-4o",
        },
    },
    {
        "model_name": "claude-mock",
        "litellm_params": {
            "model": "anthropic/claude-3-5-sonnet-20240620",
            "api_key": "sk-fake",
            "mock_response": "Hello",
        },
    },
)

# Routes by auth class (_types.LiteLLMRoutes, auth/route_checks.py).
LLM_ROUTES: Final = frozenset({"/chat/completions", "/v1/chat/completions"})
# contract §5: LiteLLM counts /v1/models and /model/info among the LLM routes for the budget check
BUDGET_CHECKED_ROUTES: Final = LLM_ROUTES | {"/v1/models", "/models", "/model/info", "/v1/model/info"}
INFO_ROUTES: Final = frozenset(
    {
        "/key/info",
        "/key/health",
        "/key/list",
        "/model/info",
        "/v1/model/info",
        "/models",
        "/v1/models",
        "/health",
    }
)
KEY_MANAGEMENT_ROUTES: Final = frozenset(
    {
        "/key/generate",
        "/key/update",
        "/key/delete",
        "/key/info",
        "/key/regenerate",
        "/key/list",
        "/key/block",
        "/key/unblock",
    }
)
_REGENERATE_PATH: Final = re.compile(r"^/key/.+/regenerate$")
_MODEL_PATCH_PATH: Final = re.compile(r"^/model/[^/]+/update$")
SELF_MANAGED_ROUTES: Final = frozenset({"/model/new", "/model/delete"})  # + /model/{id}/update

ROUTER_SETTINGS_FIELDS: Final = (  # _types.UpdateRouterConfig, in field order
    "routing_strategy_args",
    "routing_strategy",
    "routing_groups",
    "retry_policy",
    "model_group_retry_policy",
    "model_group_affinity_config",
    "allowed_fails",
    "cooldown_time",
    "num_retries",
    "timeout",
    "max_retries",
    "retry_after",
    "fallbacks",
    "context_window_fallbacks",
    "model_group_alias",
    "enable_tag_filtering",
    "weights",
    "tag_routing_prefix",
    "optional_pre_call_checks",
)

# Metadata-backed request fields (_types.LiteLLM_ManagementEndpoint_MetadataFields[_Premium]).
METADATA_FIELDS: Final = (
    "model_rpm_limit",
    "model_tpm_limit",
    "default_estimated_output_tokens",
    "default_estimated_output_tokens_per_model",
    "mcp_rpm_limit",
    "tag_rpm_limit",
    "rpm_limit_type",
    "tpm_limit_type",
    "enforced_params",
    "temp_budget_increase",
    "temp_budget_expiry",
    "allowed_vector_store_indexes",
    "throttle_on_budget_exceeded",
    "enable_prompt_caching",
    "end_user_budget_id",
)
PREMIUM_METADATA_FIELDS: Final = (
    "disable_global_guardrails",
    "guardrails",
    "policies",
    "tags",
    "allowed_passthrough_routes",
    "denied_passthrough_routes",
)

# ---------------------------------------------------------------------------------------------
# Row shapes. Column order follows schema.prisma (LiteLLM_VerificationToken) so dumps read like
# the real prisma model_dump(); the pydantic views follow the model field order in _types.py.
# ---------------------------------------------------------------------------------------------
KEY_COLUMNS: Final = (
    "token",
    "key_name",
    "key_alias",
    "soft_budget_cooldown",
    "spend",
    "total_spend",
    "expires",
    "models",
    "aliases",
    "config",
    "router_settings",
    "user_id",
    "team_id",
    "agent_id",
    "project_id",
    "permissions",
    "max_parallel_requests",
    "metadata",
    "blocked",
    "tpm_limit",
    "rpm_limit",
    "tpd_limit",
    "max_budget",
    "budget_duration",
    "budget_reset_at",
    "allowed_cache_controls",
    "allowed_routes",
    "key_type",
    "policies",
    "access_group_ids",
    "model_spend",
    "model_max_budget",
    "budget_fallbacks",
    "budget_id",
    "organization_id",
    "object_permission_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "settings_updated_at",
    "last_active",
    "rotation_count",
    "auto_rotate",
    "rotation_interval",
    "last_rotation_at",
    "key_rotation_at",
    "budget_limits",
)
KEY_RELATIONS: Final = (
    "litellm_budget_table",
    "litellm_organization_table",
    "litellm_project_table",
    "object_permission",
    "jwt_key_mappings",
)
NON_NULL_JSON_COLUMNS: Final = {  # columns prisma cannot store as NULL: a null patch resets them
    "models": list,
    "aliases": dict,
    "config": dict,
    "permissions": dict,
    "metadata": dict,
    "allowed_cache_controls": list,
    "allowed_routes": list,
    "access_group_ids": list,
    "model_max_budget": dict,
    "budget_fallbacks": dict,
    "model_spend": dict,
    "policies": list,
}
VERIFICATION_TOKEN_FIELDS: Final = (  # litellm/models/verification_token.py LiteLLM_VerificationToken
    "token",
    "key_name",
    "key_alias",
    "spend",
    "total_spend",
    "max_budget",
    "expires",
    "models",
    "aliases",
    "config",
    "user_id",
    "team_id",
    "agent_id",
    "project_id",
    "max_parallel_requests",
    "metadata",
    "tpm_limit",
    "rpm_limit",
    "tpd_limit",
    "budget_duration",
    "budget_reset_at",
    "allowed_cache_controls",
    "allowed_routes",
    "key_type",
    "permissions",
    "model_spend",
    "model_max_budget",
    "budget_fallbacks",
    "soft_budget_cooldown",
    "blocked",
    "litellm_budget_table",
    "budget_id",
    "org_id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "settings_updated_at",
    "last_active",
    "object_permission_id",
    "object_permission",
    "access_group_ids",
    "rotation_count",
    "auto_rotate",
    "rotation_interval",
    "last_rotation_at",
    "key_rotation_at",
    "router_settings",
    "budget_limits",
)
DELETED_EXTRA_FIELDS: Final = (
    "id",
    "organization_id",
    "deleted_at",
    "deleted_by",
    "deleted_by_api_key",
    "litellm_changed_by",
)
USER_API_KEY_AUTH_EXTRA: Final[tuple[tuple[str, Any], ...]] = (  # _types.UserAPIKeyAuth (non-excluded)
    ("team_spend", None),
    ("team_alias", None),
    ("team_tpm_limit", None),
    ("team_rpm_limit", None),
    ("team_tpd_limit", None),
    ("team_max_budget", None),
    ("team_soft_budget", None),
    ("team_model_max_budget", None),
    ("team_models", []),
    ("team_blocked", False),
    ("soft_budget", None),
    ("team_model_aliases", None),
    ("team_member", None),
    ("team_metadata", None),
    ("team_object_permission_id", None),
    ("team_member_spend", None),
    ("team_member_tpm_limit", None),
    ("team_member_rpm_limit", None),
    ("end_user_id", None),
    ("end_user_tpm_limit", None),
    ("end_user_rpm_limit", None),
    ("end_user_tpd_limit", None),
    ("end_user_max_budget", None),
    ("end_user_model_max_budget", None),
    ("organization_alias", None),
    ("organization_max_budget", None),
    ("organization_tpm_limit", None),
    ("organization_rpm_limit", None),
    ("organization_metadata", None),
    ("project_alias", None),
    ("project_metadata", None),
    ("last_refreshed_at", None),
    ("api_key", None),
    ("user_role", None),
    ("allowed_model_region", None),
    ("parent_otel_span", None),
    ("rpm_limit_per_model", None),
    ("tpm_limit_per_model", None),
    ("user_tpm_limit", None),
    ("user_rpm_limit", None),
    ("user_email", None),
    ("user_spend", None),
    ("user_max_budget", None),
    ("user_model_max_budget", None),
    ("request_route", None),
    ("is_session_token", False),
    ("user", None),
    ("created_by_user", None),
    ("end_user_object_permission", None),
    ("team_object_permission", None),
    ("jwt_claims", None),
)
GENERATE_RESPONSE_FIELDS: Final[tuple[tuple[str, Any], ...]] = (  # _types.GenerateKeyResponse
    ("key_alias", None),
    ("duration", None),
    ("models", []),
    ("spend", 0.0),
    ("max_budget", None),
    ("user_id", None),
    ("team_id", None),
    ("agent_id", None),
    ("max_parallel_requests", None),
    ("metadata", {}),
    ("tpm_limit", None),
    ("rpm_limit", None),
    ("budget_duration", None),
    ("budget_limits", None),
    ("allowed_cache_controls", []),
    ("config", {}),
    ("permissions", {}),
    ("model_max_budget", {}),
    ("budget_fallbacks", None),
    ("model_rpm_limit", None),
    ("model_tpm_limit", None),
    ("mcp_rpm_limit", None),
    ("tag_rpm_limit", None),
    ("guardrails", None),
    ("policies", None),
    ("prompts", None),
    ("blocked", None),
    ("aliases", {}),
    ("object_permission", None),
    ("key", None),
    ("tpd_limit", None),
    ("default_estimated_output_tokens", None),
    ("default_estimated_output_tokens_per_model", None),
    ("budget_id", None),
    ("end_user_budget_id", None),
    ("tags", None),
    ("disable_global_guardrails", None),
    ("enable_prompt_caching", None),
    ("throttle_on_budget_exceeded", None),
    ("enforced_params", None),
    ("allowed_routes", []),
    ("allowed_passthrough_routes", None),
    ("denied_passthrough_routes", None),
    ("allowed_vector_store_indexes", None),
    ("rpm_limit_type", None),
    ("tpm_limit_type", None),
    ("router_settings", None),
    ("access_group_ids", None),
    ("key_name", None),
    ("key_type", None),
    ("expires", None),
    ("token_id", None),
    ("organization_id", None),
    ("project_id", None),
    ("litellm_budget_table", None),
    ("token", None),
    ("created_by", None),
    ("updated_by", None),
    ("created_at", None),
    ("updated_at", None),
)
LITELLM_PARAMS_DEFAULTS: Final[tuple[tuple[str, Any], ...]] = (  # types/router.py LiteLLM_Params
    ("allow_client_keepalive_override", False),
    ("use_in_pass_through", False),
    ("use_litellm_proxy", False),
    ("use_xai_oauth", False),
    ("merge_reasoning_content_in_choices", False),
)
# common_utils/openai_endpoint_utils.remove_sensitive_info_from_deployment
POPPED_SECRET_PARAMS: Final = (
    "api_key",
    "client_secret",
    "vertex_credentials",
    "vertex_ai_credentials",
    "aws_access_key_id",
    "aws_secret_access_key",
)
_SENSITIVE_SEGMENTS: Final = frozenset(  # litellm_core_utils/sensitive_data_masker.py
    {
        "password",
        "secret",
        "key",
        "token",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "access",
        "private",
        "certificate",
        "fingerprint",
        "tenancy",
    }
)

# ---------------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------------


def hash_token(raw: str) -> str:
    """contract §1: stored token = sha256(raw.encode()).hexdigest()."""
    return hashlib.sha256(raw.encode()).hexdigest()


def hash_token_if_needed(token: str) -> str:
    """contract §1 / proxy/utils.hash_token_if_needed: hash only ``sk-`` values."""
    return hash_token(token) if token.startswith("sk-") else token


def abbreviate_api_key(raw: str) -> str:
    """contract §1 / auth/auth_utils.abbreviate_api_key."""
    return "sk-..." if len(raw) < MIN_CUSTOM_KEY_LENGTH else f"sk-...{raw[-4:]}"


def mask_user_id(user_id: str) -> str:
    """auth/route_checks._mask_user_id (SensitiveDataMasker prefix 6, suffix 2)."""
    if not user_id or len(user_id) <= 4:
        return "***"
    if len(user_id) <= 8:
        return "*" * len(user_id)
    return f"{user_id[:6]}{'*' * (len(user_id) - 8)}{user_id[-2:]}"


def _mask_value(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def _mask_dict(data: Mapping[str, Any]) -> dict[str, Any]:
    """SensitiveDataMasker.mask_dict, reduced to what model params contain."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        segments = str(k).lower().replace("-", "_").split("_")
        sensitive = "cost" not in segments and any(s in _SENSITIVE_SEGMENTS for s in segments)
        if isinstance(v, Mapping):
            out[k] = _mask_dict(v)
        elif sensitive and v is not None and not isinstance(v, (list, bool)):
            out[k] = _mask_value(str(v))
        else:
            out[k] = v
    return out


def _now() -> datetime:
    return datetime.now(UTC)


def _ms(dt: datetime) -> datetime:
    """Postgres timestamp(3): what a datetime looks like after a round trip through the DB."""
    return dt.replace(microsecond=(dt.microsecond // 1000) * 1000)


def _to_jsonable(value: Any, z_dates: bool) -> Any:
    """Datetimes the way the proxy serialises them.

    Responses built from pydantic models (GenerateKeyResponse, /key/list objects, /key/block,
    model rows) print UTC as ``...Z``; plain dicts go through FastAPI's jsonable_encoder and
    print ``datetime.isoformat()`` (``...+00:00``): /key/info and /key/update.
    """
    if isinstance(value, datetime):
        text = value.isoformat()
        if z_dates and text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text
    if isinstance(value, Mapping):
        return {k: _to_jsonable(v, z_dates) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, z_dates) for v in value]
    return value


_DURATION_RE: Final = re.compile(r"(\d+)(mo|[smhdw]?)")
_DURATION_WORDS: Final = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}


def duration_in_seconds(duration: str) -> int:
    """litellm_core_utils/duration_parser.duration_in_seconds (prefix regex match, like upstream)."""
    normalized = _DURATION_WORDS.get(duration.strip().lower(), duration)
    match = _DURATION_RE.match(normalized)
    if not match:
        raise ValueError("Invalid duration format")
    value, unit = int(match.group(1)), match.group(2)
    factors = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if unit in factors:
        return value * factors[unit]
    if unit == "mo":
        current = datetime.fromtimestamp(time.time())
        total_months = current.month - 1 + value
        year, month = current.year + total_months // 12, total_months % 12 + 1
        day = min(current.day, _last_day_of_month(year, month))
        target = current.replace(year=year, month=month, day=day)
        return int((target - current).total_seconds())
    raise ValueError(f"Unsupported duration unit, passed duration: {duration}")


def _last_day_of_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - timedelta(days=1)).day


def next_budget_reset(budget_duration: str, now: datetime | None = None) -> datetime:
    """duration_parser.get_next_standardized_reset_time with the defaults (UTC, midnight)."""
    current = (now or _now()).astimezone(UTC)
    normalized = _DURATION_WORDS.get(budget_duration.strip().lower(), budget_duration)
    match = re.match(r"(\d+)([a-z]+)", normalized)
    midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
    if not match:
        return midnight + timedelta(days=1)
    value, unit = int(match.group(1)), match.group(2)
    if unit == "w":
        unit, value = "d", value * 7
    if unit == "d":
        if value == 0:
            return current
        if value == 1:
            return midnight if midnight > current else midnight + timedelta(days=1)
        if value == 7:
            monday = midnight + timedelta(days=(7 - current.weekday()) % 7)
            return monday if monday > current else monday + timedelta(days=7)
        if value == 30:
            return _month_reset(current, midnight, 1)
        return midnight + timedelta(days=value)
    if unit == "mo":
        return _month_reset(current, midnight, value)
    if unit in ("h", "m", "s"):
        if value == 0:
            return current
        return _aligned_reset(current, midnight, value, unit)
    return midnight + timedelta(days=1)


def _month_reset(current: datetime, midnight: datetime, value: int) -> datetime:
    if value != 1:
        raise ValueError("Monthly resets currently only support 1 month intervals")
    first = midnight.replace(day=1)
    if first > current:
        return first
    if first.month == 12:
        return first.replace(year=first.year + 1, month=1)
    return first.replace(month=first.month + 1)


def _aligned_reset(current: datetime, midnight: datetime, value: int, unit: str) -> datetime:
    # duration_parser._handle_{hour,minute,second}_reset
    if unit == "h":
        h = current.hour
        nxt = h + value - (h % value) if h % value else h + value
        if nxt >= 24:
            return (midnight + timedelta(days=1)).replace(hour=nxt % 24)
        return current.replace(hour=nxt, minute=0, second=0, microsecond=0)
    if unit == "m":
        m = current.minute
        nxt_min = m + value - (m % value) if m % value else m + value
        hour = current.hour + nxt_min // 60
        if hour >= 24:
            return (midnight + timedelta(days=1)).replace(hour=hour % 24, minute=nxt_min % 60)
        return current.replace(hour=hour, minute=nxt_min % 60, second=0, microsecond=0)
    s = current.second
    nxt_sec = s + value - (s % value) if s % value else s + value
    minute = current.minute + nxt_sec // 60
    hour = current.hour + minute // 60
    if hour >= 24:
        return (midnight + timedelta(days=1)).replace(hour=hour % 24, minute=minute % 60, second=nxt_sec % 60)
    return current.replace(hour=hour, minute=minute % 60, second=nxt_sec % 60, microsecond=0)


def budget_duration_error(budget_duration: str | None) -> str | None:
    """proxy/common_utils/timezone_utils.budget_duration_error."""
    if budget_duration is None:
        return None
    try:
        if duration_in_seconds(budget_duration) <= 0:
            raise ValueError("non-positive")
        next_budget_reset(budget_duration)
    except (ValueError, OverflowError):
        return f"Invalid budget_duration '{budget_duration}'. Use a format like '1h', '24h', '7d', or '30d'."
    return None


_UNSAFE_ALIAS: Final = re.compile(r"(^|/)\.\.(/|$)|[\x00-\x1f\x7f-\x9f\u0085\u2028\u2029]")
_BLOCK_KEY_SK: Final = re.compile(r"^sk-[A-Za-z0-9_-]+$")
_BLOCK_KEY_HASH: Final = re.compile(r"^[a-fA-F0-9]{64}$")


def is_valid_api_key(key: str) -> bool:
    """proxy/utils.is_valid_api_key (contract §2.6)."""
    return 3 <= len(key) <= 100 and bool(_BLOCK_KEY_SK.match(key) or _BLOCK_KEY_HASH.match(key))


def generate_model_id(model_group: str, litellm_params: Mapping[str, Any]) -> str:
    """router.Router.generate_model_id: the id config models get."""
    parts = [model_group]
    for k, v in litellm_params.items():
        parts.append(k if isinstance(k, str) else str(k))
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, dict):
            parts.append(json.dumps(v, default=str))
        else:
            parts.append(str(v))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Exceptions mirroring the proxy's, and how each converter renders them (contract §0)
# ---------------------------------------------------------------------------------------------


class _HTTPExc(Exception):
    """fastapi.HTTPException: ``detail`` may be a str or a dict."""

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None):
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class _ProxyExc(Exception):
    """_types.ProxyException -> E-OAI."""

    def __init__(
        self,
        message: Any,
        type_: str,
        param: str | None,
        code: int,
        headers: Mapping[str, str] | None = None,
        provider_specific_fields: Mapping[str, Any] | None = None,
    ):
        self.message = str(message)
        super().__init__(self.message)
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        self.provider_specific_fields = provider_specific_fields


class _BudgetExceeded(Exception):
    """litellm.BudgetExceededError."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class _Response:
    status: int
    body: Any = None  # JSON-able object, or bytes when content_type is set
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class _Answer(Exception):
    """Carry a finished response out of deep code (E-422, E-DETAIL, bare 500)."""

    def __init__(self, response: _Response):
        super().__init__(response.status)
        self.response = response


def _oai_response(exc: _ProxyExc) -> _Response:
    """proxy_server.openai_exception_handler: E-OAI."""
    error: dict[str, Any] = {
        "message": exc.message,
        "type": exc.type,
        "param": exc.param,
        "code": str(exc.code),
    }
    if exc.provider_specific_fields:
        error["provider_specific_fields"] = dict(exc.provider_specific_fields)
    return _Response(exc.code, {"error": error}, dict(exc.headers))


def _detail_response(status: int, detail: Any, headers: Mapping[str, str] | None = None) -> _Response:
    """E-DETAIL: FastAPI's default for an unconverted HTTPException."""
    return _Response(status, {"detail": detail}, dict(headers or {}))


def _bare_500() -> _Response:
    """proxy_server.otel_unhandled_exception_handler: no param, no code."""
    return _Response(500, {"error": {"message": "Internal server error", "type": "internal_server_error"}})


def _e422(errors: list[dict[str, Any]]) -> _Answer:
    """E-422: ``input`` and ``ctx`` stripped (validation_error_body.public_validation_errors)."""
    return _Answer(_Response(422, {"detail": errors}))


def _via_handle_exception_on_proxy(e: Exception) -> _ProxyExc:
    """proxy/utils.handle_exception_on_proxy (contract §0)."""
    if isinstance(e, _ProxyExc):
        return e
    if isinstance(e, _HTTPExc):
        return _ProxyExc(str(e.detail), "internal_server_error", None, e.status)
    return _ProxyExc(str(e), "internal_server_error", None, getattr(e, "status_code", 500))


def _via_auth_error_style(e: Exception, other_code: int = 400) -> _ProxyExc:
    """update_key_fn / add_new_model / delete_model converter (contract §2.2, §3.3)."""
    if isinstance(e, _ProxyExc):
        return e
    if isinstance(e, _HTTPExc):
        return _ProxyExc(str(e.detail), "auth_error", "None", e.status)
    return _ProxyExc("Authentication Error, " + str(e), "auth_error", "None", other_code)


def _via_list_keys(e: Exception) -> _ProxyExc:
    """list_keys converter (contract §2.4)."""
    if isinstance(e, _ProxyExc):
        return e
    if isinstance(e, _HTTPExc):
        return _ProxyExc(str(e.detail), "internal_server_error", "None", e.status)
    return _ProxyExc("Authentication Error, " + str(e), "internal_server_error", "None", 500)


def _via_auth_layer(e: Exception) -> _ProxyExc:
    """auth/auth_exception_handler._as_proxy_exception (contract §0)."""
    if isinstance(e, _BudgetExceeded):
        return _ProxyExc(e.message, "budget_exceeded", None, 422)  # budget_exceeded_status_code
    if isinstance(e, _ProxyExc):
        return e
    if isinstance(e, _HTTPExc):
        return _ProxyExc(str(e.detail), "auth_error", "None", e.status, e.headers)
    return _ProxyExc("Authentication Error, " + str(e), "auth_error", "None", 401)


# ---------------------------------------------------------------------------------------------
# Request body validation (pydantic v2 lax mode, messages as pydantic prints them)
# ---------------------------------------------------------------------------------------------

_MISSING: Final = object()  # no body at all
_RAW_BYTES: Final = object()  # a body sent with a non-JSON content type

_KEY_TYPES: Final = ("llm_api", "management", "read_only", "default")
_LIMIT_TYPES: Final = ("guaranteed_throughput", "best_effort_throughput", "dynamic")

_KEY_REQUEST_BASE: Final[tuple[tuple[str, str], ...]] = (
    # GenerateRequestBase + KeyRequestBase field order (_types.py)
    ("key_alias", "str"),
    ("duration", "str"),
    ("models", "list"),
    ("spend", "float"),
    ("max_budget", "float"),
    ("user_id", "str"),
    ("team_id", "str"),
    ("agent_id", "str"),
    ("max_parallel_requests", "int"),
    ("metadata", "dict"),
    ("tpm_limit", "int"),
    ("rpm_limit", "int"),
    ("budget_duration", "str"),
    ("budget_limits", "list"),
    ("allowed_cache_controls", "list"),
    ("config", "dict"),
    ("permissions", "dict"),
    ("model_max_budget", "dict"),
    ("budget_fallbacks", "dict"),
    ("model_rpm_limit", "dict"),
    ("model_tpm_limit", "dict"),
    ("mcp_rpm_limit", "dict"),
    ("tag_rpm_limit", "dict"),
    ("guardrails", "strlist"),
    ("policies", "strlist"),
    ("prompts", "strlist"),
    ("blocked", "bool"),
    ("aliases", "dict"),
    ("object_permission", "dict"),
    ("key", "str"),
    ("tpd_limit", "int"),
    ("default_estimated_output_tokens", "int"),
    ("default_estimated_output_tokens_per_model", "dict"),
    ("budget_id", "str"),
    ("end_user_budget_id", "str"),
    ("tags", "strlist"),
    ("disable_global_guardrails", "bool"),
    ("enable_prompt_caching", "bool"),
    ("throttle_on_budget_exceeded", "bool"),
    ("enforced_params", "strlist"),
    ("allowed_routes", "list"),
    ("allowed_passthrough_routes", "list"),
    ("denied_passthrough_routes", "strlist"),
    ("allowed_vector_store_indexes", "list"),
    ("rpm_limit_type", "limit_type"),
    ("tpm_limit_type", "limit_type"),
    ("router_settings", "dict"),
    ("access_group_ids", "strlist"),
)
GENERATE_FIELDS: Final = (
    *_KEY_REQUEST_BASE,
    ("soft_budget", "float"),
    ("send_invite_email", "bool"),
    ("key_type", "key_type"),
    ("auto_rotate", "bool"),
    ("rotation_interval", "str"),
    ("organization_id", "str"),
    ("project_id", "str"),
)
UPDATE_FIELDS: Final = (
    *_KEY_REQUEST_BASE,
    ("soft_budget", "float"),
    ("temp_budget_increase", "float"),
    ("temp_budget_expiry", "str"),
    ("auto_rotate", "bool"),
    ("rotation_interval", "str"),
    ("organization_id", "str"),
    ("project_id", "str"),
)
REGENERATE_FIELDS: Final = (
    *GENERATE_FIELDS,
    ("new_key", "str"),
    ("new_master_key", "str"),
    ("grace_period", "str"),
)

_TRUE_WORDS: Final = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE_WORDS: Final = frozenset({"0", "off", "f", "false", "n", "no"})


def _coerce(value: Any, kind: str, loc: list[Any], errors: list[dict[str, Any]]) -> Any:
    """One field, pydantic v2 lax mode; ``None`` is always allowed (every field is Optional)."""

    def fail(type_: str, msg: str, at: list[Any] | None = None) -> None:
        errors.append({"type": type_, "loc": at or loc, "msg": msg})

    if value is None or kind == "any":
        return value
    if kind == "str":
        if isinstance(value, str):
            return value
        fail("string_type", "Input should be a valid string")
    elif kind == "float":
        if isinstance(value, (bool, int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                fail("float_parsing", "Input should be a valid number, unable to parse string as a number")
        else:
            fail("float_type", "Input should be a valid number")
    elif kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isfinite(value) and value.is_integer():
                return int(value)
            if not math.isfinite(value):
                fail("finite_number", "Input should be a finite number")
            else:
                fail("int_from_float", "Input should be a valid integer, got a number with a fractional part")
        elif isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
        else:
            fail("int_type", "Input should be a valid integer")
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        if isinstance(value, str):
            fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")
        else:
            fail("bool_type", "Input should be a valid boolean")
    elif kind in ("list", "strlist"):
        if not isinstance(value, list):
            fail("list_type", "Input should be a valid list")
        elif kind == "strlist":
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    fail("string_type", "Input should be a valid string", [*loc, i])
            return list(value)
        else:
            return list(value)
    elif kind == "dict":
        if isinstance(value, dict):
            return dict(value)
        fail("dict_type", "Input should be a valid dictionary")
    elif kind == "key_type":
        if value in _KEY_TYPES:
            return value
        fail("enum", "Input should be 'llm_api', 'management', 'read_only' or 'default'")
    elif kind == "limit_type":
        if value in _LIMIT_TYPES:
            return value
        fail(
            "literal_error",
            "Input should be 'guaranteed_throughput', 'best_effort_throughput' or 'dynamic'",
        )
    return None


def _validate_fields(
    body: Mapping[str, Any], spec: Iterable[tuple[str, str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (fields that were set, errors). Unknown fields are ignored (contract §2.1)."""
    errors: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for name, kind in spec:
        if name in body:
            coerced = _coerce(body[name], kind, ["body", name], errors)
            out[name] = coerced
    return out, errors


def _require_object(body: Any) -> Mapping[str, Any]:
    """FastAPI: a missing body is "Field required", raw bytes cannot become a model."""
    if body is _MISSING:
        raise _e422([{"type": "missing", "loc": ["body"], "msg": "Field required"}])
    if body is _RAW_BYTES or not isinstance(body, dict):
        raise _e422(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                }
            ]
        )
    return body


# ---------------------------------------------------------------------------------------------
# Requests, callers, faults
# ---------------------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def q(self, name: str) -> str | None:
        """Starlette: the last value wins for a scalar query parameter."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class _Caller:
    api_key: str  # the master key alias or the key's token hash (UserAPIKeyAuth.api_key)
    user_id: str | None
    user_role: str | None
    is_master: bool = False
    row: dict[str, Any] | None = None
    user_row: dict[str, Any] | None = None

    @property
    def is_admin(self) -> bool:
        return self.user_role == "proxy_admin"


@dataclass
class Faults:
    """Fault knobs. All of them leave ``/_sim/*`` alone."""

    latency: float = 0.0  # seconds before a request is processed
    error_rate: float = 0.0  # fraction answered with the bare 500
    status_override: int | None = None  # answer every call with this status
    hang_rate: float = 0.0  # fraction read and never answered (until hang_max_seconds or stop())
    hang_max_seconds: float = 30.0
    lose_answer_after_write: int = 0  # next N write calls: process, then close without answering
    lose_answer_rate: float = 0.0  # fraction of write calls processed and not answered
    completion_delay: float = 0.0  # seconds a chat completion holds its max_parallel slot

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "error_rate": self.error_rate,
            "status_override": self.status_override,
            "hang_rate": self.hang_rate,
            "hang_max_seconds": self.hang_max_seconds,
            "lose_answer_after_write": self.lose_answer_after_write,
            "lose_answer_rate": self.lose_answer_rate,
            "completion_delay": self.completion_delay,
        }


_WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# (method, path regex, handler name); FastAPI 404/405 for everything else.
_ROUTES: Final[tuple[tuple[str, re.Pattern[str], str], ...]] = tuple(
    (m, re.compile(f"^(?:{p})$"), h)
    for m, p, h in (
        ("GET", r"/health/liveliness|/health/liveness", "_ep_liveliness"),
        ("GET", r"/health/readiness", "_ep_readiness"),
        ("GET", r"/health/readiness/details", "_ep_readiness_details"),
        ("GET", r"/health", "_ep_health"),
        ("GET", r"/v1/models|/models", "_ep_models"),
        ("GET", r"/model/info|/v1/model/info", "_ep_model_info"),
        ("POST", r"/model/new", "_ep_model_new"),
        ("POST", r"/model/delete", "_ep_model_delete"),
        ("PATCH", r"/model/(?P<model_id>[^/]+)/update", "_ep_model_patch"),
        ("POST", r"/key/generate", "_ep_key_generate"),
        ("POST", r"/key/update", "_ep_key_update"),
        ("POST", r"/key/delete", "_ep_key_delete"),
        ("POST", r"/key/block", "_ep_key_block"),
        ("POST", r"/key/unblock", "_ep_key_unblock"),
        ("POST", r"/key/regenerate", "_ep_key_regenerate"),
        ("POST", r"/key/(?P<key>.+)/regenerate", "_ep_key_regenerate"),
        ("POST", r"/key/health", "_ep_key_health"),
        ("GET", r"/key/info", "_ep_key_info"),
        ("GET", r"/key/list", "_ep_key_list"),
        ("POST", r"/v1/chat/completions|/chat/completions", "_ep_chat"),
    )
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], sim: LiteLLMSimulator):
        self.sim = sim
        self.stopping = False
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.active_lock:
            self.active.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active.discard(request)

    def close_active_connections(self) -> None:
        """Kill keep-alive and hanging connections so a stopped simulator is really down."""
        with self.active_lock:
            sockets = list(self.active)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""
    server: _Server

    wbufsize = -1  # buffer the answer: headers and body leave in one send at the flush

    def setup(self) -> None:
        super().setup()
        # no Nagle: a small answer must not wait for the client's delayed ACK (~40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "uvicorn"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.verbose:
            sys.stderr.write(f"[litellm-sim] {format % args}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        sim = self.server.sim
        if self.server.stopping:
            self.close_connection = True
            return
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        req = _Request(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if req.path.startswith("/_sim/") or req.path == "/_sim":
            self._write(sim._control(req))
            return
        plan = sim._plan_request(req)
        if plan.latency > 0 and sim._wait_or_stopped(plan.latency):
            self.close_connection = True
            return
        if plan.hang:
            sim._wait_or_stopped(sim.faults.hang_max_seconds)
            self.close_connection = True  # never answer: the client gives up or sees a reset
            return
        if plan.override is not None:
            self._write(sim._override_response(plan.override))
            return
        if plan.error:
            self._write(_bare_500())
            return
        response = sim._dispatch(req)
        if plan.lose_answer:
            self.close_connection = True  # the write happened; the answer is lost
            return
        self._write(response)

    def _write(self, response: _Response) -> None:
        if response.content_type == "application/json":
            try:
                payload = json.dumps(
                    response.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
                ).encode()
            except (TypeError, ValueError):
                response = _bare_500()
                payload = json.dumps(response.body, separators=(",", ":")).encode()
        else:
            payload = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        try:
            self.send_response(response.status)
            self.send_header("content-type", response.content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.server.stopping:
                self.send_header("connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


@dataclass
class _Plan:
    latency: float = 0.0
    hang: bool = False
    override: int | None = None
    error: bool = False
    lose_answer: bool = False


# ---------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------


class LiteLLMSimulator:
    """A LiteLLM 1.106.2 proxy with a connected database, in memory. Thread-safe."""

    def __init__(
        self,
        *,
        master_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
        store_model_in_db: bool = False,
        premium: bool = False,
        page_size_max: int = 100,
        models: Iterable[Mapping[str, Any]] | None = None,
        db_status: str = "connected",
        readiness_details: bool = False,
        spend_per_call: float = 0.0001,
        seed: int | None = 0,
        latency: float = 0.0,
        verbose: bool = False,
    ):
        self.master_key = master_key
        self.host = host
        self.port = port
        self.store_model_in_db = store_model_in_db
        self.premium = premium
        self.page_size_max = page_size_max
        self.db_status = db_status  # /health/readiness "db": "connected" | "Not connected" | ...
        self.readiness_details = readiness_details
        self.spend_per_call = spend_per_call
        self.verbose = verbose
        self.unhealthy_models: set[str] = set()  # model names /health reports as unhealthy
        self.faults = Faults(latency=latency)
        self.calls: Counter[tuple[str, str]] = Counter()
        self._initial_master_key = master_key
        self._initial_latency = latency
        self._initial_settings = {
            "premium": premium,
            "store_model_in_db": store_model_in_db,
            "db_status": db_status,
            "readiness_details": readiness_details,
            "spend_per_call": spend_per_call,
            "page_size_max": page_size_max,
        }
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._config_models: list[dict[str, Any]] = []
        for m in DEFAULT_MODELS if models is None else models:
            self._config_models.append(self._config_model(m))
        self._reset_state()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> LiteLLMSimulator:
        if self._server is not None:
            return self
        self._stop_event = threading.Event()
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"litellm-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping = True
        self._stop_event.set()  # releases hanging and sleeping handlers
        server.shutdown()
        server.server_close()
        server.close_active_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def restart(self) -> LiteLLMSimulator:
        """Stop, then start again on the same port (state is kept)."""
        self.stop()
        return self.start()

    def __enter__(self) -> LiteLLMSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_or_stopped(self, seconds: float) -> bool:
        """Sleep; True when stop() interrupted the wait."""
        return self._stop_event.wait(seconds)

    # ---- state -----------------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self._keys: dict[str, dict[str, Any]] = {}
            self._alias_index: dict[str, set[str]] = {}
            self._deleted: list[dict[str, Any]] = []
            self._deleted_by_token: dict[str, list[dict[str, Any]]] = {}
            self._deprecated: dict[str, tuple[str, datetime]] = {}  # old hash -> (new hash, revoke_at)
            self._budgets: dict[str, dict[str, Any]] = {}
            self._users: dict[str, dict[str, Any]] = {}
            self._db_models: dict[str, dict[str, Any]] = {}
            self._struct_version = 0  # bumps on insert/delete/token change
            self._data_version = 0  # bumps on any key write
            self._default_order: tuple[int, list[str]] | None = None
            self._sorted_cache: dict[tuple[str, str], tuple[int, list[str]]] = {}
            self._rpm_windows: dict[str, deque[float]] = {}
            self._tpm_windows: dict[str, deque[tuple[float, int]]] = {}
            self._in_flight: Counter[str] = Counter()
            self._lost_answers_left = 0

    def reset(self) -> None:
        """Back to the constructed state: no keys, users or DB models, no faults (but the
        constructor's latency), no call counts, constructor settings and master key restored."""
        with self._lock:
            self._reset_state()
            self.faults = Faults(latency=self._initial_latency)
            self.calls.clear()
            self.master_key = self._initial_master_key
            for name, value in self._initial_settings.items():
                setattr(self, name, value)
            self.unhealthy_models.clear()
            self._rng = random.Random(self._seed)

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def set_faults(self, **knobs: Any) -> Faults:
        """Set fault knobs (see ``Faults``); unknown names raise TypeError."""
        with self._lock:
            for name, value in knobs.items():
                if not hasattr(self.faults, name):
                    raise TypeError(f"unknown fault knob: {name}")
                setattr(self.faults, name, value)
            self._lost_answers_left = int(self.faults.lose_answer_after_write)
            return self.faults

    # Fault knobs as attributes too: ``sim.latency = 0.5`` is ``sim.set_faults(latency=0.5)``.
    @property
    def latency(self) -> float:
        return self.faults.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self.set_faults(latency=value)

    @property
    def error_rate(self) -> float:
        return self.faults.error_rate

    @error_rate.setter
    def error_rate(self, value: float) -> None:
        self.set_faults(error_rate=value)

    @property
    def status_override(self) -> int | None:
        return self.faults.status_override

    @status_override.setter
    def status_override(self, value: int | None) -> None:
        self.set_faults(status_override=value)

    @property
    def hang_rate(self) -> float:
        return self.faults.hang_rate

    @hang_rate.setter
    def hang_rate(self, value: float) -> None:
        self.set_faults(hang_rate=value)

    @property
    def lose_answer_after_write(self) -> int:
        return self.faults.lose_answer_after_write

    @lose_answer_after_write.setter
    def lose_answer_after_write(self, value: int) -> None:
        self.set_faults(lose_answer_after_write=value)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()
            self._lost_answers_left = 0

    def configure(self, **settings: Any) -> None:
        """premium, store_model_in_db, db_status, readiness_details, spend_per_call,
        page_size_max, master_key, unhealthy_models."""
        allowed = {
            "premium",
            "store_model_in_db",
            "db_status",
            "readiness_details",
            "spend_per_call",
            "page_size_max",
            "master_key",
            "unhealthy_models",
        }
        with self._lock:
            for name, value in settings.items():
                if name not in allowed:
                    raise TypeError(f"unknown setting: {name}")
                setattr(self, name, set(value) if name == "unhealthy_models" else value)

    def _touch(self, structural: bool = False) -> None:
        self._data_version += 1
        if structural:
            self._struct_version += 1

    def _index_alias(self, token: str, old: str | None, new: str | None) -> None:
        if old is not None:
            bucket = self._alias_index.get(old)
            if bucket is not None:
                bucket.discard(token)
                if not bucket:
                    del self._alias_index[old]
        if new is not None:
            self._alias_index.setdefault(new, set()).add(token)

    def _insert_row(self, row: dict[str, Any]) -> None:
        self._keys[row["token"]] = row
        self._index_alias(row["token"], None, row.get("key_alias"))
        self._touch(structural=True)

    def _remove_row(self, token: str) -> dict[str, Any] | None:
        row = self._keys.pop(token, None)
        if row is not None:
            self._index_alias(token, row.get("key_alias"), None)
            self._touch(structural=True)
        return row

    def _blank_row(self, token: str, raw_for_name: str | None) -> dict[str, Any]:
        now = _ms(_now())
        row: dict[str, Any] = dict.fromkeys(KEY_COLUMNS)
        row.update(
            token=token,
            key_name=abbreviate_api_key(raw_for_name) if raw_for_name is not None else None,
            soft_budget_cooldown=False,
            spend=0.0,
            total_spend=0.0,
            models=[],
            aliases={},
            config={},
            router_settings={},
            permissions={},
            metadata={},
            allowed_cache_controls=[],
            allowed_routes=[],
            key_type="default",
            policies=[],
            access_group_ids=[],
            model_spend={},
            model_max_budget={},
            budget_fallbacks={},
            created_at=now,
            created_by=PROXY_ADMIN_NAME,
            updated_at=now,
            updated_by=PROXY_ADMIN_NAME,
            rotation_count=0,
            auto_rotate=False,
        )
        return row

    # ---- public helpers --------------------------------------------------------------------

    def add_key(self, raw_key: str | None = None, **fields: Any) -> str:
        """Insert one key directly (no validation). Returns the raw key."""
        raw = raw_key or f"sk-{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"
        with self._lock:
            row = self._blank_row(hash_token(raw), raw)
            for name, value in fields.items():
                if name not in row:
                    raise TypeError(f"unknown key column: {name}")
                row[name] = value
            self._insert_row(row)
        return raw

    def seed_keys(self, n: int, **fields: Any) -> list[str]:
        """Bulk-insert ``n`` keys with distinct created_at (oldest first, 1 ms apart).

        String field values may use ``{i}`` (e.g. ``key_alias="bulk-{i}"``). Returns raw keys.
        """
        base = _ms(_now()) - timedelta(milliseconds=n)
        raws: list[str] = []
        with self._lock:
            for i in range(n):
                raw = f"sk-{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"
                row = self._blank_row(hash_token(raw), raw)
                row["created_at"] = row["updated_at"] = base + timedelta(milliseconds=i)
                for name, value in fields.items():
                    if name not in row:
                        raise TypeError(f"unknown key column: {name}")
                    row[name] = (
                        value.replace("{i}", str(i)) if isinstance(value, str) else copy.deepcopy(value)
                    )
                self._keys[row["token"]] = row
                self._index_alias(row["token"], None, row.get("key_alias"))
                raws.append(raw)
            self._touch(structural=True)
        return raws

    def get_key(self, token_or_raw: str) -> dict[str, Any] | None:
        """A deep copy of the stored row (token hash or raw ``sk-`` key), or None."""
        with self._lock:
            row = self._keys.get(hash_token_if_needed(token_or_raw))
            return copy.deepcopy(row) if row is not None else None

    def get_deleted_key(self, token_or_raw: str) -> dict[str, Any] | None:
        with self._lock:
            rows = self._deleted_by_token.get(hash_token_if_needed(token_or_raw))
            return copy.deepcopy(rows[-1]) if rows else None

    def set_spend(self, token_or_raw: str, value: float) -> None:
        with self._lock:
            row = self._keys[hash_token_if_needed(token_or_raw)]
            row["spend"] = float(value)
            self._touch()

    def update_key_fields(self, token_or_raw: str, **fields: Any) -> None:
        """Write columns directly (e.g. ``expires`` in the past to make a key expired)."""
        with self._lock:
            row = self._keys[hash_token_if_needed(token_or_raw)]
            for name, value in fields.items():
                if name not in row:
                    raise TypeError(f"unknown key column: {name}")
                if name == "key_alias":
                    self._index_alias(row["token"], row.get("key_alias"), value)
                row[name] = value
            self._touch(structural=bool({"team_id", "created_at"} & set(fields)))

    def add_user(self, user_id: str, user_role: str = "internal_user", **fields: Any) -> None:
        """A LiteLLM_UserTable row, so keys owned by ``user_id`` get that role (contract §2)."""
        with self._lock:
            self._users[user_id] = {"user_id": user_id, "user_role": user_role, **fields}

    def key_count(self) -> int:
        with self._lock:
            return len(self._keys)

    def reset_budgets(self) -> int:
        """What LiteLLM's budget-reset job does: zero spend where budget_reset_at has passed
        (proxy/common_utils/reset_budget_job.py; with budget_duration set, `spend` covers only
        the current window, the /key/info docstring), the next date computed from now."""
        now = _now()
        done = 0
        with self._lock:
            for row in self._keys.values():
                reset_at = row.get("budget_reset_at")
                if row.get("budget_duration") and reset_at is not None and reset_at <= now:
                    row["spend"] = 0.0
                    row["budget_reset_at"] = _ms(next_budget_reset(row["budget_duration"], now))
                    done += 1
            if done:
                self._touch()
        return done

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "keys": len(self._keys),
                "deleted_keys": len(self._deleted),
                "users": len(self._users),
                "config_models": len(self._config_models),
                "db_models": len(self._db_models),
                "calls": [{"method": m, "path": p, "count": c} for (m, p), c in sorted(self.calls.items())],
                "total_calls": sum(self.calls.values()),
                "faults": self.faults.as_dict(),
                "premium": self.premium,
                "store_model_in_db": self.store_model_in_db,
                "db_status": self.db_status,
                "running": self.running,
                "base_url": self.base_url,
            }

    # ---- fault planning ----------------------------------------------------------------------

    def _plan_request(self, req: _Request) -> _Plan:
        with self._lock:
            self.calls[(req.method, req.path)] += 1
            f = self.faults
            plan = _Plan(latency=float(f.latency or 0.0), override=f.status_override)
            if f.hang_rate and self._rng.random() < f.hang_rate:
                plan.hang = True
            elif f.error_rate and self._rng.random() < f.error_rate:
                plan.error = True
            elif req.method in _WRITE_METHODS and plan.override is None:
                if self._lost_answers_left > 0:
                    self._lost_answers_left -= 1
                    self.faults.lose_answer_after_write = self._lost_answers_left
                    plan.lose_answer = True
                elif f.lose_answer_rate and self._rng.random() < f.lose_answer_rate:
                    plan.lose_answer = True
            return plan

    @staticmethod
    def _override_response(status: int) -> _Response:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = {
            "error": {"message": phrase, "type": "sim_status_override", "param": None, "code": str(status)}
        }
        return _Response(status, body)

    # ---- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, req: _Request) -> _Response:
        allowed: list[str] = []
        for method, pattern, handler in _ROUTES:
            match = pattern.match(req.path)
            if match is None:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            try:
                result: _Response = getattr(self, handler)(req, **match.groupdict())
                return result
            except _Answer as answer:
                return answer.response
            except _ProxyExc as exc:
                return _oai_response(exc)
            except _HTTPExc as exc:
                return _detail_response(exc.status, exc.detail, exc.headers)
            except Exception:  # a simulator bug: answer like the proxy's unhandled handler
                if self.verbose:
                    traceback.print_exc()
                return _bare_500()
        if allowed:
            return _Response(405, {"detail": "Method Not Allowed"}, {"allow": ", ".join(allowed)})
        return _Response(404, {"detail": "Not Found"})  # FastAPI default

    # ---- body + auth -------------------------------------------------------------------------

    @staticmethod
    def _parse_body(req: _Request) -> Any:
        """FastAPI's body read: JSON only for a JSON (or absent) content type; bad JSON is a 422
        before auth (contract §5 "Seen on the real proxy")."""
        if not req.body:
            return _MISSING
        ctype = req.headers.get("content-type")
        if ctype:
            main = ctype.split(";")[0].strip().lower()
            if not (
                main == "application/json" or (main.startswith("application/") and main.endswith("+json"))
            ):
                return _RAW_BYTES
        try:
            return json.loads(req.body)
        except json.JSONDecodeError as e:
            raise _e422([{"type": "json_invalid", "loc": ["body", e.pos], "msg": "JSON decode error"}]) from e
        except UnicodeDecodeError as e:
            raise _e422([{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}]) from e

    @staticmethod
    def _extract_api_key(headers: Mapping[str, str]) -> str | None:
        """auth/user_api_key_auth.get_api_key + get_bearer_token (contract §0 auth headers)."""

        def strip_scheme(value: str, strict: bool) -> str:
            for prefix in ("Bearer ", "Basic ", "bearer "):
                if value.startswith(prefix):
                    return value.replace(prefix, "")
            return "" if strict else value

        custom = headers.get("x-litellm-api-key")
        if custom:
            return strip_scheme(custom, strict=False)
        authorization = headers.get("authorization")
        if authorization:
            return strip_scheme(authorization, strict=True)
        for name in ("api-key", "x-api-key", "x-goog-api-key", "ocp-apim-subscription-key"):
            value = headers.get(name)
            if value:
                return value
        return None

    def _auth(self, req: _Request, body: Any = _MISSING) -> _Caller:
        """user_api_key_auth: raises _ProxyExc rendered as E-OAI (contract §0, §5)."""
        if body is not _MISSING and body is not _RAW_BYTES and not isinstance(body, dict):
            # contract §5: a JSON array or scalar body gets the bare 500
            raise _Answer(_bare_500())
        try:
            return self._auth_inner(req, body if isinstance(body, dict) else {})
        except (_Answer, _ProxyExc):
            raise
        except Exception as e:
            raise _via_auth_layer(e) from e

    def _auth_inner(self, req: _Request, body: Mapping[str, Any]) -> _Caller:
        route = req.path
        api_key = self._extract_api_key(req.headers)
        if api_key is None:
            raise Exception("No api key passed in.")  # contract §5 "no key"
        if api_key == "":
            # contract "Seen with no database": an Authorization header without the Bearer prefix
            raise Exception("Malformed API Key passed in. Ensure Key has `Bearer ` prefix.")
        with self._lock:
            master = self.master_key
        if secrets.compare_digest(api_key.encode(), master.encode()):
            return _Caller(MASTER_KEY_ALIAS, PROXY_ADMIN_NAME, "proxy_admin", is_master=True)
        if not api_key.startswith("sk-"):
            masked = f"{api_key[:4]}****{api_key[-4:]}" if len(api_key) > 8 else "****"
            hint = (
                " This key has the structure of a JWT, but JWT auth is not enabled on this proxy, so it"
                " was treated as a virtual key. Set `enable_jwt_auth: true` under `general_settings` in"
                " your proxy config to authenticate with JWTs."
                if len(api_key.split(".")) == 3
                else ""
            )
            raise _HTTPExc(
                401,
                f"LiteLLM Virtual Key expected. Received={masked}, expected to start with 'sk-'.{hint}",
            )
        hashed = hash_token(api_key)
        with self._lock:
            row = self._keys.get(hashed)
            if row is None and hashed in self._deprecated:
                # regenerate grace_period: the old key keeps working until revoke_at (§2.7)
                new_hash, revoke_at = self._deprecated[hashed]
                if revoke_at > _now():
                    row = self._keys.get(new_hash)
            row = copy.deepcopy(row) if row is not None else None
            user_row = copy.deepcopy(self._users.get(row["user_id"])) if row and row.get("user_id") else None
        if row is None:
            raise _ProxyExc(
                "Authentication Error, Invalid proxy server token passed. Received API Key = "
                f"{abbreviate_api_key(api_key)}, Key Hash (Token) ={hashed}. Unable to find token in "
                "cache or `LiteLLM_VerificationTokenTable`",
                "token_not_found_in_db",
                "key",
                401,
            )
        caller = _Caller(
            api_key=row["token"],
            user_id=row.get("user_id"),
            user_role=user_row.get("user_role") if user_row else None,
            row=row,
            user_row=user_row,
        )
        # contract §5 order: blocked -> key model access -> expired -> key budget -> other checks
        if row.get("blocked") is True:
            raise Exception("Key is blocked. Update via `/key/unblock` if you're an admin.")
        model = body.get("model") if route in LLM_ROUTES else None
        if isinstance(model, str) and not self._key_can_call_model(row, model):
            raise _ProxyExc(
                f"The requested model '{model}' is not available for this API key, or the model name "
                "is invalid. Check the models available to you and try again.",
                "key_model_access_denied",
                "model",
                403,
            )
        expires = row.get("expires")
        if expires is not None:
            now = _now()
            if expires < now:
                raise _ProxyExc(
                    f"Authentication Error - Expired Key. Key Expiry time {expires} and current time {now}",
                    "expired_key",
                    abbreviate_api_key(hashed),  # the hash was in hand: DB lookup path (§5 note)
                    401,
                )
        max_budget = row.get("max_budget")
        if route in BUDGET_CHECKED_ROUTES and max_budget is not None and math.isfinite(max_budget):
            spend = float(row.get("spend") or 0.0)
            if spend >= max_budget:
                label = row.get("key_alias") or "key"
                key_name = row.get("key_name")
                descriptor = f"{label} ({key_name})" if key_name and key_name.startswith("sk-...") else label
                raise _BudgetExceeded(
                    f"Budget has been exceeded! Key={descriptor} Current cost: {spend}, "
                    f"Max budget: {max_budget}"
                )
        self._check_allowed_routes(row, route)
        if not caller.is_admin:
            self._non_admin_route_check(caller, route)
        return caller

    @staticmethod
    def _check_allowed_routes(row: Mapping[str, Any], route: str) -> None:
        """route_checks.is_virtual_key_allowed_to_call_route (key_type presets)."""
        allowed = row.get("allowed_routes") or []
        if not allowed:
            return
        groups = {
            "llm_api_routes": LLM_ROUTES | {"/v1/models", "/models"},
            "info_routes": INFO_ROUTES,
            "management_routes": KEY_MANAGEMENT_ROUTES | SELF_MANAGED_ROUTES,
        }
        for entry in allowed:
            if route in groups.get(entry, ()):
                return
            if route == entry or route.startswith(f"{entry}/"):
                return
            if entry.endswith("*") and route.startswith(entry[:-1]):
                return
        raise _HTTPExc(
            403,
            f"Virtual key is not allowed to call this route. Only allowed to call routes: {allowed}. "
            f"Tried to call route: {route}",
        )

    @staticmethod
    def _non_admin_route_check(caller: _Caller, route: str) -> None:
        """route_checks.non_proxy_admin_allowed_routes_check (contract §2)."""
        if route in LLM_ROUTES or route in INFO_ROUTES:
            return
        if route in SELF_MANAGED_ROUTES or _MODEL_PATCH_PATH.match(route):
            return  # the endpoint checks itself
        is_key_route = route in KEY_MANAGEMENT_ROUTES or bool(_REGENERATE_PATH.match(route))
        if caller.user_role == "internal_user" and is_key_route:
            return
        for entry in (caller.row or {}).get("allowed_routes") or []:
            if route == entry or route.startswith(f"{entry}/"):
                return
        role = "unknown"
        user_id = "unknown"
        if caller.user_row is not None:
            role = caller.user_row.get("user_role") or "unknown"
            user_id = caller.user_row.get("user_id") or "unknown"
        raise Exception(
            "Only proxy admin can be used to generate, delete, update info for new keys/users/teams. "
            f"Route={route}. Your role={role}. Your user_id={mask_user_id(user_id)}"
        )

    # ---- models ------------------------------------------------------------------------------

    @staticmethod
    def _config_model(spec: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(spec.get("litellm_params") or {})
        info = dict(spec.get("model_info") or {})
        info.setdefault("id", generate_model_id(str(spec["model_name"]), params))
        return {"model_name": spec["model_name"], "litellm_params": params, "model_info": info}

    def _deployments(self, include_blocked: bool = False) -> list[dict[str, Any]]:
        """Router deployments: config models, then DB models (decrypted, db_model True)."""
        out = [copy.deepcopy(m) for m in self._config_models]
        for row in self._db_models.values():
            if row.get("blocked") and not include_blocked:
                continue
            params = {k: _decrypt(v) for k, v in row["litellm_params"].items()}
            info = {**copy.deepcopy(row.get("model_info") or {}), "id": row["model_id"], "db_model": True}
            out.append({"model_name": row["model_name"], "litellm_params": params, "model_info": info})
        return out

    def _proxy_model_names(self) -> list[str]:
        return list(dict.fromkeys(d["model_name"] for d in self._deployments()))

    @staticmethod
    def _key_can_call_model(row: Mapping[str, Any], model: str) -> bool:
        models = row.get("models") or []
        if not models or "all-proxy-models" in models or "*" in models:
            return True  # contract §5: an empty models list may call any model
        return model in models

    def _visible_model_names(self, caller: _Caller) -> list[str]:
        """utils.get_available_models_for_user: the key's models, else all proxy models."""
        names = self._proxy_model_names()
        if caller.row is None:
            return names
        models = caller.row.get("models") or []
        if not models or "all-proxy-models" in models:
            return names
        return list(dict.fromkeys(models))

    # ---- health --------------------------------------------------------------------------------

    def _ep_liveliness(self, req: _Request) -> _Response:
        return _Response(200, "I'm alive!")

    def _ep_readiness(self, req: _Request) -> _Response:
        # health_endpoints/_health_endpoints.health_readiness: the public probe is {status, db};
        # a configured but unreachable DB answers 503.
        with self._lock:
            db = self.db_status
            details = self.readiness_details
        status = 503 if db not in ("connected", "Not connected") else 200
        body: dict[str, Any] = {"status": "healthy", "db": db}
        if details:  # general_settings.allow_public_health_readiness_details
            body.update(
                cache=None,
                litellm_version=LITELLM_VERSION,
                success_callbacks=[],
                use_aiohttp_transport=True,
                log_level="WARNING",
                is_detailed_debug=False,
                show_no_redis_warning=False,
                show_env_credential_login_warning=False,
            )
        return _Response(status, body)

    def _ep_readiness_details(self, req: _Request) -> _Response:
        # health_endpoints/_health_endpoints.health_readiness_details: the detailed payload
        # (with litellm_version) behind user_api_key_auth; seen on the real 1.106.2 proxy.
        self._auth(req)
        with self._lock:
            db = self.db_status
        status = 503 if db not in ("connected", "Not connected") else 200
        return _Response(
            status,
            {
                "status": "healthy",
                "db": db,
                "cache": None,
                "litellm_version": LITELLM_VERSION,
                "success_callbacks": [],
                "use_aiohttp_transport": True,
                "log_level": "WARNING",
                "is_detailed_debug": False,
                "show_no_redis_warning": False,
                "show_env_credential_login_warning": False,
            },
        )

    def _ep_health(self, req: _Request) -> _Response:
        self._auth(req)
        with self._lock:
            deployments = self._deployments()
            unhealthy_names = set(self.unhealthy_models)
        healthy, unhealthy = [], []
        for d in deployments:
            entry = {"model": d["litellm_params"].get("model"), "model_id": d["model_info"]["id"]}
            if d["model_name"] in unhealthy_names:
                unhealthy.append({**entry, "error": "simulated unhealthy endpoint"})
            else:
                healthy.append(entry)
        return _Response(
            200,
            {
                "healthy_endpoints": healthy,
                "unhealthy_endpoints": unhealthy,
                "healthy_count": len(healthy),
                "unhealthy_count": len(unhealthy),
            },
        )

    # ---- model endpoints (contract §3) --------------------------------------------------------

    def _ep_models(self, req: _Request) -> _Response:
        caller = self._auth(req)
        scope = req.q("scope")
        if scope is not None and scope != "expand":
            raise _HTTPExc(
                400, f"Invalid scope parameter. Only 'expand' is currently supported. Received: {scope}"
            )
        with self._lock:
            names = self._visible_model_names(caller)
            infos = {d["model_name"]: d["model_info"] for d in self._deployments()}
        data = []
        for name in names:
            entry: dict[str, Any] = {
                "id": name,
                "object": "model",
                "created": MODEL_CREATED_AT,
                "owned_by": "openai",
            }
            info = infos.get(name) or {}
            for extra in ("mode", "max_input_tokens", "max_output_tokens"):
                if info.get(extra) is not None:
                    entry[extra] = info[extra]
            data.append(entry)
        return _Response(200, {"data": data, "object": "list"})

    @staticmethod
    def _public_deployment(d: Mapping[str, Any]) -> dict[str, Any]:
        params = {**dict(LITELLM_PARAMS_DEFAULTS), **copy.deepcopy(d["litellm_params"])}
        for name in POPPED_SECRET_PARAMS:
            params.pop(name, None)
        stored = copy.deepcopy(d["model_info"])
        info = {
            "id": stored.pop("id"),
            "db_model": stored.pop("db_model", False),
            **stored,
            "access_via_team_ids": [],  # _populate_team_access_on_models (DB connected)
            "direct_access": True,
        }
        return {"model_name": d["model_name"], "litellm_params": _mask_dict(params), "model_info": info}

    def _ep_model_info(self, req: _Request) -> _Response:
        caller = self._auth(req)
        model_id = req.q("litellm_model_id")
        with self._lock:
            deployments = self._deployments()
            allowed = set(self._visible_model_names(caller))
        if model_id is not None:
            for d in deployments:
                if d["model_info"]["id"] == model_id:
                    return _Response(200, {"data": [self._public_deployment(d)]})
            raise _HTTPExc(400, {"error": f"Model id = {model_id} not found on litellm proxy"})
        data = [self._public_deployment(d) for d in deployments if d["model_name"] in allowed]
        return _Response(200, {"data": data})

    def _model_row_view(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """LiteLLM_ProxyModelTable prisma row (pydantic -> Z dates). Params stay encrypted."""
        return _to_jsonable(
            {
                "model_id": row["model_id"],
                "model_name": row["model_name"],
                "litellm_params": copy.deepcopy(row["litellm_params"]),
                "model_info": copy.deepcopy(row["model_info"]),
                "blocked": row["blocked"],
                "created_at": row["created_at"],
                "created_by": row["created_by"],
                "updated_at": row["updated_at"],
                "updated_by": row["updated_by"],
            },
            z_dates=True,
        )

    def _model_write_auth(self, caller: _Caller, model_info: Mapping[str, Any] | None) -> None:
        """model_management_endpoints.ModelManagementAuthChecks.can_user_make_model_call."""
        team_id = (model_info or {}).get("team_id")
        if team_id is not None:  # teams are not simulated: the team never exists
            raise _HTTPExc(400, {"error": f"Team id={team_id} does not exist in db"})
        if not caller.is_admin:
            raise _HTTPExc(
                403,
                {
                    "error": "User does not have permission to make this model call. Your role="
                    f"{caller.user_role}. You can only make model calls if you are a PROXY_ADMIN or if "
                    "you are a team admin, by specifying a team_id in the model_info."
                },
            )

    def _ep_model_new(self, req: _Request) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = _require_object(body)
        if "model_name" not in data or "litellm_params" not in data:
            # types/router.Deployment.__init__ requires both positionally: a TypeError -> bare 500
            raise _Answer(_bare_500())
        errors: list[dict[str, Any]] = []
        model_name = _coerce(data["model_name"], "str", ["body", "model_name"], errors)
        if data["model_name"] is None:
            errors.append(
                {
                    "type": "string_type",
                    "loc": ["body", "model_name"],
                    "msg": "Input should be a valid string",
                }
            )
        params = data["litellm_params"]
        if not isinstance(params, dict):
            errors.append(
                {
                    "type": "model_type",
                    "loc": ["body", "litellm_params"],
                    "msg": "Input should be a valid dictionary or instance of LiteLLM_Params",
                }
            )
        elif "model" not in params:
            errors.append(
                {"type": "missing", "loc": ["body", "litellm_params", "model"], "msg": "Field required"}
            )
        info = data.get("model_info")
        if info is not None and not isinstance(info, dict):
            errors.append(
                {
                    "type": "model_type",
                    "loc": ["body", "model_info"],
                    "msg": "Input should be a valid dictionary or instance of ModelInfo",
                }
            )
        blocked = _coerce(data.get("blocked"), "bool", ["body", "blocked"], errors)
        if errors:
            raise _e422(errors)
        try:
            self._model_write_auth(caller, info)
            if blocked is not None and not caller.is_admin:
                raise _HTTPExc(403, "Only proxy admins can change a model's blocked flag.")
            with self._lock:
                if not self.store_model_in_db:  # contract §3.3
                    raise _HTTPExc(
                        500, {"error": "Set `'STORE_MODEL_IN_DB='True'` in your env to enable this feature."}
                    )
                model_id = str((info or {}).get("id") or uuid.uuid4())
                stored_params = {**dict(LITELLM_PARAMS_DEFAULTS), **params}
                now = _ms(_now())
                row = {
                    "model_id": model_id,
                    "model_name": model_name,
                    "litellm_params": {
                        k: _encrypt(v) if isinstance(v, str) else v for k, v in stored_params.items()
                    },
                    "model_info": {
                        "id": model_id,
                        "db_model": False,
                        "member_auto_router": False,
                        **(info or {}),
                    },
                    "blocked": bool(blocked) if blocked is not None else False,
                    "created_at": now,
                    "created_by": caller.user_id or PROXY_ADMIN_NAME,
                    "updated_at": now,
                    "updated_by": caller.user_id or PROXY_ADMIN_NAME,
                }
                row["model_info"]["id"] = model_id
                self._db_models[model_id] = row
                return _Response(200, self._model_row_view(row))
        except Exception as e:
            raise _via_auth_error_style(e) from e

    def _ep_model_delete(self, req: _Request) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = _require_object(body)
        if "id" not in data:
            raise _e422([{"type": "missing", "loc": ["body", "id"], "msg": "Field required"}])
        errors: list[dict[str, Any]] = []
        model_id = _coerce(data["id"], "str", ["body", "id"], errors)
        if errors or model_id is None:
            raise _e422(
                errors
                or [{"type": "string_type", "loc": ["body", "id"], "msg": "Input should be a valid string"}]
            )
        try:
            with self._lock:
                row = self._db_models.get(model_id)
                if row is None:  # contract §3.4: checked BEFORE STORE_MODEL_IN_DB
                    raise _HTTPExc(400, {"error": f"Model with id={model_id} not found in db"})
                if not caller.is_admin:
                    self._model_write_auth(caller, row.get("model_info"))
                if not self.store_model_in_db:
                    raise _HTTPExc(
                        500, {"error": "Set `'STORE_MODEL_IN_DB='True'` in your env to enable this feature."}
                    )
                del self._db_models[model_id]
            return _Response(200, {"message": f"Model: {model_id} deleted successfully"})
        except Exception as e:
            raise _via_auth_error_style(e) from e

    def _ep_model_patch(self, req: _Request, model_id: str) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = _require_object(body)
        errors: list[dict[str, Any]] = []
        fields, errors = _validate_fields(
            data,
            (("model_name", "str"), ("litellm_params", "dict"), ("model_info", "dict"), ("blocked", "bool")),
        )
        if errors:
            raise _e422(errors)
        with self._lock:
            # contract §3.5, model_management_endpoints.patch_model
            if not self.store_model_in_db:
                raise _ProxyExc(
                    "Model updates only supported for DB-stored models", "validation_error", None, 400
                )
            row = self._db_models.get(model_id)
            if row is None:
                if any(m["model_info"]["id"] == model_id for m in self._config_models):
                    raise _ProxyExc(
                        "Cannot edit config-based model. Store model in DB via /model/new first.",
                        "validation_error",
                        None,
                        400,
                    )
                raise _ProxyExc(f"Model {model_id} not found on proxy.", "not_found_error", None, 404)
            if not caller.is_admin:
                self._model_write_auth(caller, row.get("model_info"))  # HTTPExc raw -> E-DETAIL
            if fields.get("blocked") is not None and not caller.is_admin:
                raise _ProxyExc(
                    "Only proxy admins can change a model's blocked flag.", "auth_error", "blocked", 403
                )
            if fields.get("model_name") is not None:
                row["model_name"] = fields["model_name"]
            for k, v in (fields.get("litellm_params") or {}).items():
                if v is None:
                    row["litellm_params"].pop(k, None)
                else:
                    row["litellm_params"][k] = _encrypt(v) if isinstance(v, str) else v
            if fields.get("model_info"):
                row["model_info"].update(fields["model_info"])
                row["model_info"]["id"] = model_id
            if fields.get("blocked") is not None:
                row["blocked"] = fields["blocked"]
            row["updated_at"] = _ms(_now())
            row["updated_by"] = caller.user_id or PROXY_ADMIN_NAME
            return _Response(200, self._model_row_view(row))

    # ---- key views -------------------------------------------------------------------------

    def _budget_row(self, budget_id: str | None) -> dict[str, Any] | None:
        if budget_id is None or budget_id not in self._budgets:
            return None
        return copy.deepcopy(self._budgets[budget_id])

    def _prisma_dump(self, row: Mapping[str, Any], include_budget: bool = False) -> dict[str, Any]:
        """A LiteLLM_VerificationToken prisma row model_dump(): columns + relation fields."""
        # shallow: every caller serialises it (which rebuilds containers) under the lock
        out = {name: row.get(name) for name in KEY_COLUMNS}
        for rel in KEY_RELATIONS:
            out[rel] = None
        if include_budget:
            out["litellm_budget_table"] = self._budget_row(row.get("budget_id"))
        return out

    def _verification_token_view(
        self, row: Mapping[str, Any], include_budget: bool = False
    ) -> dict[str, Any]:
        """litellm/models/verification_token.LiteLLM_VerificationToken built from a prisma row."""
        dump = self._prisma_dump(row, include_budget)
        out = {name: dump.get(name) for name in VERIFICATION_TOKEN_FIELDS}
        out["org_id"] = None  # the prisma row has organization_id; the model wants org_id
        return out

    def _user_api_key_auth_view(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """/key/list full objects: UserAPIKeyAuth(**prisma_dump) (contract §2.4)."""
        dump = self._prisma_dump(row, include_budget=True)
        out = {name: dump.get(name) for name in VERIFICATION_TOKEN_FIELDS}
        out["org_id"] = dump.get("organization_id")
        for name, default in USER_API_KEY_AUTH_EXTRA:
            out[name] = [] if default == [] else default
        return out

    @staticmethod
    def _deleted_view(archived: Mapping[str, Any]) -> dict[str, Any]:
        """LiteLLM_DeletedVerificationToken.model_validate(archive_row).model_dump()."""
        out = {name: copy.deepcopy(archived.get(name)) for name in VERIFICATION_TOKEN_FIELDS}
        out["org_id"] = None
        out["litellm_budget_table"] = None
        out["object_permission"] = None
        out["budget_limits"] = None
        for name in DELETED_EXTRA_FIELDS:
            out[name] = copy.deepcopy(archived.get(name))
        return out

    @staticmethod
    def _key_status(row: Mapping[str, Any], now: datetime) -> str:
        """key_management_endpoints._derive_key_status."""
        if row.get("blocked") is True:
            return "revoked"
        expires = row.get("expires")
        if expires is None:
            return "active"
        return "expired" if expires < now else "active"

    @staticmethod
    def _router_settings_view(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if stored is None:
            return None
        out: dict[str, Any] = dict.fromkeys(ROUTER_SETTINGS_FIELDS)
        out["model_group_alias"] = {}
        out.update(copy.deepcopy(dict(stored)))
        return out

    def _generate_response(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """GenerateKeyResponse serialised (pydantic: Z dates, every field present)."""
        out: dict[str, Any] = {}
        for name, default in GENERATE_RESPONSE_FIELDS:
            value = values.get(name, copy.deepcopy(default))
            out[name] = default if value is None and isinstance(default, (list, dict)) else value
        out["router_settings"] = self._router_settings_view(values.get("router_settings"))
        for name in ("spend", "max_budget"):
            if out[name] is not None:
                out[name] = float(out[name])
        return _to_jsonable(out, z_dates=True)

    def _archive(self, row: Mapping[str, Any], caller: _Caller, changed_by: str | None) -> None:
        """persist_deleted_verification_tokens: a LiteLLM_DeletedVerificationToken row."""
        record = {name: copy.deepcopy(row.get(name)) for name in KEY_COLUMNS if name != "budget_limits"}
        record.update(
            id=str(uuid.uuid4()),
            deleted_at=_ms(_now()),
            deleted_by=caller.user_id,
            deleted_by_api_key=caller.api_key,
            litellm_changed_by=changed_by,
        )
        self._deleted.append(record)
        self._deleted_by_token.setdefault(str(record["token"]), []).append(record)

    # ---- /key/generate (contract §2.1) --------------------------------------------------------

    def _ep_key_generate(self, req: _Request) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = self._validated_key_body(body, GENERATE_FIELDS, generate=True)
        try:
            with self._lock:
                return _Response(200, self._generate(data, caller))
        except Exception as e:
            raise _via_handle_exception_on_proxy(e) from e

    def _validated_key_body(
        self, body: Any, spec: tuple[tuple[str, str], ...], generate: bool
    ) -> dict[str, Any]:
        data = _require_object(body)
        # field "before" validators (_types.py): "" means unset for these
        data = dict(data)
        if data.get("max_budget") == "":
            data["max_budget"] = None
        blank_ids = ("team_id", "organization_id", "project_id") if generate else ("organization_id",)
        for name in blank_ids:
            if data.get(name) == "":
                data[name] = None
        if not generate and data.get("team_id") == "":
            data.pop("team_id")  # UpdateKeyRequest.drop_blank_team_id
        fields, errors = _validate_fields(data, spec)
        if errors:
            raise _e422(errors)
        return fields

    def _premium_check(self, feature: str) -> None:
        """proxy/utils.require_enterprise_license(feature) (contract §2.1 tags)."""
        if not self.premium:
            raise _HTTPExc(
                403,
                {
                    "error": f"This feature is only available for LiteLLM Enterprise users: {feature}. {NOT_PREMIUM}"
                },
            )

    def _check_unique_alias(self, alias: str | None, exclude_token: str | None = None) -> None:
        """_enforce_unique_key_alias (contract §1)."""
        if alias is None:
            return
        holders = self._alias_index.get(alias, set()) - ({exclude_token} if exclude_token else set())
        if holders:
            raise _ProxyExc(
                f"Key with alias '{alias}' already exists. Unique key aliases across all keys are required.",
                "bad_request_error",
                "key_alias",
                400,
            )

    @staticmethod
    def _validate_alias_format(alias: str | None) -> None:
        """_validate_key_alias_format: traversal/control characters only (regex check off)."""
        if alias is not None and _UNSAFE_ALIAS.search(alias):
            raise _ProxyExc("Invalid key_alias", "bad_request_error", "key_alias", 400)

    def _generate(self, data: dict[str, Any], caller: _Caller) -> dict[str, Any]:
        # generate_key_fn, in source order
        max_budget = data.get("max_budget")
        if max_budget is not None and (not math.isfinite(max_budget) or max_budget < 0):
            raise _HTTPExc(
                400, {"error": f"max_budget must be a non-negative finite number. Received: {max_budget}"}
            )
        soft_budget = data.get("soft_budget")
        if soft_budget is not None and (not math.isfinite(soft_budget) or soft_budget < 0):
            raise _HTTPExc(
                400, {"error": f"soft_budget must be a non-negative finite number. Received: {soft_budget}"}
            )
        if not caller.is_admin and data.get("user_id") is None:
            data["user_id"] = caller.user_id  # LIT-1884: non-admin keys belong to the caller
        if data.get("team_id") is not None and not caller.is_admin:
            raise _HTTPExc(
                400,
                f"Team not found for team_id={data['team_id']}. Non-admin users cannot create keys for "
                "non-existent teams.",
            )
        # _common_key_generation_helper
        if not caller.is_admin and data.get("user_id") is not None and data["user_id"] != caller.user_id:
            raise _HTTPExc(
                403,
                f"User can only create keys for themselves. Got user_id={data['user_id']}, Your ID={caller.user_id}",
            )
        error = budget_duration_error(data.get("budget_duration"))
        if error is not None:
            raise _HTTPExc(400, {"error": error})
        metadata = dict(data.get("metadata") or {})
        for name in PREMIUM_METADATA_FIELDS:
            value = data.pop(name, None)
            if value is not None:
                if value:
                    self._premium_check(name)
                metadata[name] = value
        for name in METADATA_FIELDS:
            value = data.pop(name, None)
            if value is not None:
                metadata[name] = value
        alias = data.get("key_alias")
        self._validate_alias_format(alias)
        self._check_unique_alias(alias)
        custom = data.get("key")
        if custom is not None and not custom.startswith("sk-"):
            masked = f"{custom[:4]}****{custom[-4:]}" if len(custom) > 8 else "****"
            raise _HTTPExc(
                400,
                {
                    "error": f"Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: {masked}"
                },
            )
        if custom is not None and len(custom) < MIN_CUSTOM_KEY_LENGTH:
            raise _HTTPExc(
                400,
                {
                    "error": f"Invalid key format. LiteLLM Virtual Key must be at least {MIN_CUSTOM_KEY_LENGTH} characters long."
                },
            )
        # generate_key_helper_fn
        raw = custom if custom is not None else f"sk-{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"
        expires: datetime | None = None
        if data.get("duration") is not None:
            # an invalid duration raises ValueError outside the helper's try: 500 (contract §2.1)
            expires = _now() + timedelta(seconds=duration_in_seconds(data["duration"]))
        budget_duration = data.get("budget_duration")
        # No budget_reset_at is taken from the caller (GenerateKeyRequest has none, _types.py):
        # it is computed from budget_duration now (key_management_endpoints.py
        # _effective_key_for_generate -> timezone_utils.get_budget_reset_time), snapping to a
        # boundary for 1d/7d/30d/1mo/Nh, midnight of today + N days otherwise.
        reset_at = _ms(next_budget_reset(budget_duration)) if budget_duration is not None else None
        budget_id = data.get("budget_id")
        if soft_budget is not None:  # a LiteLLM_BudgetTable row; soft_budget is not echoed
            budget_id = str(uuid.uuid4())
            now_b = _ms(_now())
            self._budgets[budget_id] = {
                "budget_id": budget_id,
                "max_budget": None,
                "soft_budget": soft_budget,
                "max_parallel_requests": None,
                "tpm_limit": None,
                "rpm_limit": None,
                "tpd_limit": None,
                "model_max_budget": data.get("model_max_budget") or {},
                "budget_duration": None,
                "budget_reset_at": None,
                "allowed_models": [],
                "temp_budget_increase": None,
                "temp_budget_expiry": None,
                "created_at": now_b,
                "created_by": caller.user_id or PROXY_ADMIN_NAME,
                "updated_at": now_b,
                "updated_by": caller.user_id or PROXY_ADMIN_NAME,
            }
        key_type = data.get("key_type") or "default"
        allowed_routes = list(data.get("allowed_routes") or [])
        preset = {
            "llm_api": ["llm_api_routes"],
            "management": ["management_routes"],
            "read_only": ["info_routes"],
        }
        if key_type in preset:
            allowed_routes = preset[key_type]
        token = hash_token(raw)
        now = _ms(_now())
        budget_limits = data.get("budget_limits") or None
        values: dict[str, Any] = {
            "key_alias": alias,
            "expires": expires,
            "models": list(data.get("models") or []),
            "aliases": dict(data.get("aliases") or {}),
            "config": dict(data.get("config") or {}),
            # GenerateRequestBase.spend (_types.py): the new key starts at the spend it is sent
            "spend": float(data.get("spend") or 0.0),
            "max_budget": max_budget,
            "user_id": data.get("user_id"),
            "team_id": data.get("team_id"),
            "agent_id": data.get("agent_id"),
            "project_id": data.get("project_id"),
            "max_parallel_requests": data.get("max_parallel_requests"),
            "metadata": metadata,
            "tpm_limit": data.get("tpm_limit"),
            "rpm_limit": data.get("rpm_limit"),
            "tpd_limit": data.get("tpd_limit"),
            "budget_duration": budget_duration,
            "budget_reset_at": reset_at,
            "allowed_cache_controls": list(data.get("allowed_cache_controls") or []),
            "permissions": dict(data.get("permissions") or {}),
            "model_max_budget": dict(data.get("model_max_budget") or {}),
            "budget_fallbacks": dict(data.get("budget_fallbacks") or {}),
            "organization_id": data.get("organization_id"),
            "budget_id": budget_id,
            "blocked": data.get("blocked"),
            "budget_limits": budget_limits,
            "created_by": caller.user_id,
            "updated_by": caller.user_id,
            "allowed_routes": allowed_routes,
            "key_type": key_type,
            "router_settings": dict(data.get("router_settings") or {}),
            "access_group_ids": list(data.get("access_group_ids") or []),
            "auto_rotate": bool(data.get("auto_rotate") or False),
            "rotation_interval": data.get("rotation_interval"),
            "key_name": abbreviate_api_key(raw),
        }
        existing = self._keys.get(token)
        if existing is None:
            row = self._blank_row(token, raw)
            for name, value in values.items():
                if name in row:
                    row[name] = copy.deepcopy(value)
            row["expires"] = _ms(expires) if expires is not None else None
            row["created_at"] = row["updated_at"] = now
            if values["auto_rotate"] and values["rotation_interval"]:
                row["key_rotation_at"] = _ms(
                    now + timedelta(seconds=duration_in_seconds(values["rotation_interval"]))
                )
            self._insert_row(row)
            stored = row
        else:
            stored = existing  # contract §2.1 pitfall: upsert with update:{} is a no-op, still 200
        response_values = {
            **values,
            "key": raw,
            "token": token,
            "token_id": token,
            "litellm_budget_table": None,
            "created_at": stored["created_at"],
            "updated_at": stored["updated_at"],
        }
        return self._generate_response(response_values)

    # ---- /key/update (contract §2.2) ----------------------------------------------------------

    def _ep_key_update(self, req: _Request) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = self._validated_key_body(body, UPDATE_FIELDS, generate=False)
        # UpdateKeyRequest model validators, in order
        if (data.get("temp_budget_increase") is None) != (data.get("temp_budget_expiry") is None):
            raise _e422(
                [
                    {
                        "type": "value_error",
                        "loc": ["body"],
                        "msg": "Value error, temp_budget_increase and temp_budget_expiry must be set together",
                    }
                ]
            )
        if data.get("key") is None and data.get("key_alias") is None:
            raise _e422(
                [
                    {
                        "type": "value_error",
                        "loc": ["body"],
                        "msg": "Value error, either key or key_alias must be provided",
                    }
                ]
            )
        try:
            with self._lock:
                return _Response(200, _to_jsonable(self._update(data, caller), z_dates=False))
        except Exception as e:
            raise _via_auth_error_style(e) from e

    def _find_for_update(self, key: str | None, alias: str | None) -> dict[str, Any]:
        """_get_and_validate_existing_key."""
        if key is not None:
            row = self._keys.get(hash_token_if_needed(key))
            if row is None:
                raise _ProxyExc("Key not found.", "not_found_error", "key", 404)
            return row
        holders = sorted(self._alias_index.get(alias or "", set()))
        if not holders:
            raise _ProxyExc(
                f"Key not found. No key with key_alias='{alias}'.", "not_found_error", "key_alias", 404
            )
        if len(holders) > 1:
            raise _ProxyExc(
                f"Multiple keys share key_alias='{alias}', so it cannot be used as an identifier.",
                "bad_request_error",
                "key_alias",
                400,
            )
        return self._keys[holders[0]]

    def _owner_checks_for_update(
        self, data: Mapping[str, Any], row: Mapping[str, Any], caller: _Caller
    ) -> None:
        """The parts of _validate_update_key_data a non-admin caller meets."""
        if caller.is_admin:
            return
        if row.get("user_id") != caller.user_id:
            raise _HTTPExc(
                403,
                f"User can only create keys for themselves. Got user_id={row.get('user_id')}, Your ID={caller.user_id}",
            )
        budget_change = (
            (data.get("max_budget") is not None and data.get("max_budget") != row.get("max_budget"))
            or data.get("spend") is not None
            or "budget_limits" in data
            or "soft_budget" in data
        )
        if budget_change or row.get("created_by") != caller.user_id:
            route = "/key/update (max_budget/spend)" if budget_change else "/key/update"
            raise _HTTPExc(
                403,
                {
                    "error": f"Only proxy admins, team admins, or org admins can call {route}. "
                    f"user_role={caller.user_role}, user_id={caller.user_id}"
                },
            )

    def _prepare_update(self, data: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
        """prepare_key_update_data + prepare_metadata_fields: the columns to write."""
        for name in PREMIUM_METADATA_FIELDS:
            if data.get(name) is not None and data.get(name):
                self._premium_check(name)
        values: dict[str, Any] = {}
        skip = {
            "key",
            "new_key",
            "grace_period",
            "new_master_key",
            "soft_budget",
            "send_invite_email",
            "key_type",
        }
        for name, value in data.items():
            if name in skip or name in METADATA_FIELDS or name in PREMIUM_METADATA_FIELDS:
                continue
            values[name] = value
        if "duration" in values:
            duration = values.pop("duration")
            if duration is None or duration == "-1":
                values["expires"] = None  # contract §2.2: null or "-1" = never expire
            elif duration:
                values["expires"] = _now() + timedelta(seconds=duration_in_seconds(duration))
        if "budget_duration" in values:
            budget_duration = values["budget_duration"]
            values["budget_reset_at"] = _ms(next_budget_reset(budget_duration)) if budget_duration else None
            if budget_duration == "":
                values.pop("budget_duration")
                values.pop("budget_reset_at")
        metadata = (
            copy.deepcopy(data["metadata"])
            if "metadata" in data
            else copy.deepcopy(row.get("metadata") or {})
        )
        if metadata is None:
            metadata = {}
        for name in (*METADATA_FIELDS, *PREMIUM_METADATA_FIELDS):
            if data.get(name) is not None:
                metadata[name] = data[name]
        values["metadata"] = metadata  # contract §2.2: metadata replaces the stored one wholesale
        return values

    def _update(self, data: dict[str, Any], caller: _Caller) -> dict[str, Any]:
        max_budget = data.get("max_budget")
        if max_budget is not None and (not math.isfinite(max_budget) or max_budget < 0):
            raise _HTTPExc(
                400, {"error": f"max_budget must be a non-negative finite number. Received: {max_budget}"}
            )
        soft_budget = data.get("soft_budget")
        if soft_budget is not None and (not math.isfinite(soft_budget) or soft_budget < 0):
            raise _HTTPExc(
                400, {"error": f"soft_budget must be a non-negative finite number. Received: {soft_budget}"}
            )
        row = self._find_for_update(data.get("key"), data.get("key_alias"))
        key_echo = data["key"] if data.get("key") is not None else row["token"]
        spend = data.get("spend")
        if spend is not None and not math.isfinite(spend):
            raise _HTTPExc(400, {"error": f"spend must be a finite number. Received: {spend}"})
        error = budget_duration_error(data.get("budget_duration"))
        if error is not None:
            raise _HTTPExc(400, {"error": error})
        self._owner_checks_for_update(data, row, caller)
        values = self._prepare_update(data, row)
        new_alias = values.get("key_alias")
        if "key_alias" in values and new_alias != row.get("key_alias"):
            self._validate_alias_format(new_alias)
        self._check_unique_alias(new_alias, exclude_token=row["token"])
        if "soft_budget" in data:
            budget_id = row.get("budget_id")
            if budget_id is not None and budget_id in self._budgets:
                self._budgets[budget_id]["soft_budget"] = soft_budget
            elif soft_budget is not None:
                budget_id = str(uuid.uuid4())
                now_b = _ms(_now())
                self._budgets[budget_id] = {
                    "budget_id": budget_id,
                    "soft_budget": soft_budget,
                    "created_at": now_b,
                    "created_by": caller.user_id or PROXY_ADMIN_NAME,
                    "updated_at": now_b,
                    "updated_by": caller.user_id or PROXY_ADMIN_NAME,
                }
                values["budget_id"] = budget_id
        self._apply_values(row, values)
        return {"key": key_echo, **self._prisma_dump(row)}

    def _apply_values(self, row: dict[str, Any], values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name not in row:
                continue  # not a column (object_permission etc.)
            if value is None and name in NON_NULL_JSON_COLUMNS:
                value = NON_NULL_JSON_COLUMNS[name]()
            if name in ("spend", "max_budget") and value is not None:
                value = float(value)
            if isinstance(value, datetime):
                value = _ms(value)
            if name == "key_alias":
                self._index_alias(row["token"], row.get("key_alias"), value)
            row[name] = copy.deepcopy(value)
        now = _ms(_now())
        row["settings_updated_at"] = now  # key_settings_audit.with_settings_updated_at
        # prisma @updatedAt (proxy/schema.prisma, LiteLLM_VerificationToken.updated_at): every
        # write moves it, the portal's own /key/update included, so it says nothing of use.
        row["updated_at"] = now
        self._touch(structural="team_id" in values)

    # ---- /key/info (contract §2.3) -------------------------------------------------------------

    def _ep_key_info(self, req: _Request) -> _Response:
        caller = self._auth(req)
        key = req.q("key") or caller.api_key
        try:
            with self._lock:
                hashed = hash_token_if_needed(key)
                live = self._keys.get(hashed)
                history = self._deleted_by_token.get(hashed) or []
                archived = history[-1] if live is None and history else None
                if live is None and archived is None:
                    raise _ProxyExc("Key not found in database", "not_found_error", "key", 404)
                source = live if live is not None else archived
                assert source is not None
                if not (
                    caller.is_admin
                    or caller.api_key == key
                    or source.get("user_id") == caller.user_id  # None == None matches, like upstream
                ):
                    raise _HTTPExc(
                        403, f"You are not allowed to access this key's info. Your role={caller.user_role}"
                    )
                if live is not None:
                    info = self._prisma_dump(live, include_budget=True)
                    info.pop("token")
                    info["status"] = self._key_status(live, _now())
                else:
                    info = self._deleted_view(source)
                    info.pop("token")
                    info["status"] = "deleted"
                return _Response(200, _to_jsonable({"key": key, "info": info}, z_dates=False))
        except Exception as e:
            raise _via_handle_exception_on_proxy(e) from e

    # ---- /key/list (contract §2.4) -------------------------------------------------------------

    def _query_int(
        self, req: _Request, name: str, default: int, ge: int, le: int | None
    ) -> tuple[int, list[dict[str, Any]]]:
        raw = req.q(name)
        if raw is None:
            return default, []
        try:
            value = int(raw.strip())
        except ValueError:
            return default, [
                {
                    "type": "int_parsing",
                    "loc": ["query", name],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                }
            ]
        if value < ge:
            return value, [
                {
                    "type": "greater_than_equal",
                    "loc": ["query", name],
                    "msg": f"Input should be greater than or equal to {ge}",
                }
            ]
        if le is not None and value > le:
            return value, [
                {
                    "type": "less_than_equal",
                    "loc": ["query", name],
                    "msg": f"Input should be less than or equal to {le}",
                }
            ]
        return value, []

    @staticmethod
    def _query_bool(req: _Request, name: str) -> tuple[bool, list[dict[str, Any]]]:
        raw = req.q(name)
        if raw is None:
            return False, []
        word = raw.strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS, []
        return False, [
            {
                "type": "bool_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid boolean, unable to interpret input",
            }
        ]

    def _ep_key_list(self, req: _Request) -> _Response:
        caller = self._auth(req)
        page, errors = self._query_int(req, "page", 1, 1, None)
        size, size_errors = self._query_int(req, "size", 10, 1, self.page_size_max)
        errors += size_errors
        flags: dict[str, bool] = {}
        for name in (
            "return_full_object",
            "include_team_keys",
            "include_created_by_keys",
            "substring_matching",
        ):
            flags[name], flag_errors = self._query_bool(req, name)
            errors += flag_errors
        if errors:
            raise _e422(errors)
        try:
            with self._lock:
                return _Response(200, self._list(req, caller, page, size, flags))
        except Exception as e:
            raise _via_list_keys(e) from e

    def _list(
        self, req: _Request, caller: _Caller, page: int, size: int, flags: Mapping[str, bool]
    ) -> dict[str, Any]:
        status = req.q("status")
        if status is not None and status not in ("active", "expired", "revoked", "deleted"):
            raise _HTTPExc(
                400, {"error": "Invalid status value. Supported: 'active', 'expired', 'revoked', 'deleted'."}
            )
        expires_filter = req.q("expires")
        if expires_filter is not None and expires_filter not in ("active", "expired"):
            raise _HTTPExc(400, {"error": "Invalid expires value. Supported: 'active', 'expired'."})
        user_id = req.q("user_id")
        if not caller.is_admin:  # validate_key_list_check
            if caller.user_id is None or caller.user_row is None:
                raise _ProxyExc(
                    "You are not authorized to access this endpoint. No 'user_id' is associated with your API key.",
                    "bad_request_error",
                    "user_id",
                    403,
                )
            if user_id and user_id != caller.user_id:
                raise _ProxyExc(
                    "You are not authorized to check another user's keys", "bad_request_error", "user_id", 403
                )
            if req.q("team_id"):
                raise _ProxyExc(
                    "You are not authorized to check this team's keys", "bad_request_error", "team_id", 403
                )
            user_id = user_id or caller.user_id
        sort_by = req.q("sort_by")
        sort_order = req.q("sort_order") or "desc"
        filters = {
            "user_id": user_id,
            "team_id": req.q("team_id"),
            "organization_id": req.q("organization_id"),
            "project_id": req.q("project_id"),
            "agent_id": req.q("agent_id"),
            "access_group_id": req.q("access_group_id"),
            "key_hash": req.q("key_hash"),
            "key_alias": req.q("key_alias"),
            "search": req.q("search"),
            "status": status,
            "expires": expires_filter,
        }
        predicate = self._list_predicate(
            filters,
            substring=flags["substring_matching"],
            admin=caller.is_admin,
            include_created_by=flags["include_created_by_keys"],
        )
        if sort_by is not None:  # _validate_sort_params (only when sort_by is given)
            columns = ("spend", "max_budget", "created_at", "updated_at", "token", "key_alias")
            if sort_by not in columns:
                raise _HTTPExc(400, {"error": f"Invalid sort column. Must be one of: {', '.join(columns)}"})
            if sort_order.lower() not in ("asc", "desc"):
                raise _HTTPExc(400, {"error": "Invalid sort order. Must be 'asc' or 'desc'"})
        if status == "deleted":
            rows = [r for r in self._deleted if predicate is None or predicate(r)]
            rows.sort(key=lambda r: (r["created_at"], r["token"]), reverse=True)
            if sort_by is not None:
                rows = _sort_rows(rows, sort_by, sort_order.lower())
            total = len(rows)
            chosen = rows[(page - 1) * size : (page - 1) * size + size]
            full = flags["return_full_object"] or "user" in req.query.get("expand", [])
            keys: list[Any] = [
                _to_jsonable(self._deleted_view(r), z_dates=True) if full else r["token"] for r in chosen
            ]
        else:
            ordered = self._ordered_tokens(sort_by, sort_order.lower())
            matching = ordered if predicate is None else [t for t in ordered if predicate(self._keys[t])]
            total = len(matching)
            chosen_tokens = matching[(page - 1) * size : (page - 1) * size + size]
            full = flags["return_full_object"] or "user" in req.query.get("expand", [])
            keys = [
                _to_jsonable(self._user_api_key_auth_view(self._keys[t]), z_dates=True) if full else t
                for t in chosen_tokens
            ]
        return {
            "keys": keys,
            "total_count": total,
            "current_page": page,
            "total_pages": -(-total // size),  # ceiling division, like list_key_helper
        }

    def _ordered_tokens(self, sort_by: str | None, order: str) -> list[str]:
        """Visible (non-dashboard) tokens in list order, sorted once and cached until a write.

        The default order (created_at desc, token desc) only changes on insert, delete, token
        change or team change (the dashboard exclusion), so it survives spend updates.
        """
        if sort_by is None:
            cached = self._default_order
            if cached is not None and cached[0] == self._struct_version:
                return cached[1]
            rows = [r for r in self._keys.values() if r.get("team_id") != UI_SESSION_TEAM_ID]
            rows.sort(key=lambda r: (r["created_at"], r["token"]), reverse=True)
            tokens = [r["token"] for r in rows]
            self._default_order = (self._struct_version, tokens)
            return tokens
        cache_key = (sort_by, order)
        hit = self._sorted_cache.get(cache_key)
        if hit is not None and hit[0] == self._data_version:
            return hit[1]
        base = [self._keys[t] for t in self._ordered_tokens(None, "desc")]
        tokens = [r["token"] for r in _sort_rows(base, sort_by, order)]
        self._sorted_cache[cache_key] = (self._data_version, tokens)
        return tokens

    def _list_predicate(
        self, f: Mapping[str, Any], substring: bool, admin: bool, include_created_by: bool
    ) -> Callable[[Mapping[str, Any]], bool] | None:
        """_build_key_filter_conditions as a Python predicate; None when nothing filters."""
        active = {k: v for k, v in f.items() if v}
        if not active:
            return None
        now = _now()

        def ok(r: Mapping[str, Any]) -> bool:
            if r.get("team_id") == UI_SESSION_TEAM_ID:
                return False
            uid = active.get("user_id")
            if uid is not None:
                owner = r.get("user_id")
                if substring and admin:
                    own = owner is not None and uid.lower() in owner.lower()
                else:
                    own = owner == uid
                by_creator = include_created_by and r.get("created_by") == uid and r.get("team_id") is None
                if not (own or by_creator):
                    return False
            if "organization_id" in active and r.get("organization_id") != active["organization_id"]:
                return False
            alias_q = active.get("key_alias")
            if alias_q is not None:
                alias = r.get("key_alias")
                if substring:
                    if alias is None or alias_q.lower() not in alias.lower():
                        return False
                elif alias != alias_q:
                    return False
            if "key_hash" in active and r.get("token") != active["key_hash"]:
                return False
            search = active.get("search")
            if search is not None:
                alias = r.get("key_alias")
                if r.get("token") != search and (alias is None or search.lower() not in alias.lower()):
                    return False
            for name in ("team_id", "project_id", "agent_id"):
                if name in active and r.get(name) != active[name]:
                    return False
            if "access_group_id" in active and active["access_group_id"] not in (
                r.get("access_group_ids") or []
            ):
                return False
            expires = r.get("expires")
            if "expires" in active:
                expired = expires is not None and expires < now
                if (active["expires"] == "expired") != expired:
                    return False
            status = active.get("status")
            if status == "revoked" and r.get("blocked") is not True:
                return False
            if status in ("active", "expired"):
                if r.get("blocked") is True:
                    return False
                expired = expires is not None and expires < now
                if (status == "expired") != expired:
                    return False
            return True

        return ok

    # ---- /key/delete (contract §2.5) -----------------------------------------------------------

    def _ep_key_delete(self, req: _Request) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = _require_object(body)
        # KeyRequest.validate_at_least_one runs before field validation (mode="before")
        if not data.get("keys") and not data.get("key_aliases"):
            raise _e422(
                [
                    {
                        "type": "value_error",
                        "loc": ["body"],
                        "msg": "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
                    }
                ]
            )
        fields, errors = _validate_fields(data, (("keys", "strlist"), ("key_aliases", "strlist")))
        if errors:
            raise _e422(errors)
        try:
            with self._lock:
                if fields.get("keys"):
                    echoed = fields["keys"]
                    tokens = [hash_token_if_needed(k) for k in echoed]
                else:
                    echoed = fields["key_aliases"]
                    tokens = [t for alias in echoed for t in sorted(self._alias_index.get(alias, set()))]
                found = [self._keys[t] for t in dict.fromkeys(tokens) if t in self._keys]
                if not found:
                    raise _HTTPExc(404, {"error": "No keys found"})
                if not caller.is_admin:
                    for row in found:  # can_modify_verification_token: personal keys, owner only
                        if row.get("team_id") is not None or row.get("user_id") != caller.user_id:
                            raise _HTTPExc(403, {"error": "You are not authorized to delete this key"})
                changed_by = req.headers.get("litellm-changed-by")
                for row in found:
                    self._archive(row, caller, changed_by)
                for row in found:
                    self._remove_row(row["token"])
            return _Response(200, {"deleted_keys": echoed})
        except Exception as e:
            raise _via_handle_exception_on_proxy(e) from e

    # ---- /key/block, /key/unblock (contract §2.6) ---------------------------------------------

    def _block_common(self, req: _Request, blocked: bool) -> tuple[dict[str, Any], _Caller]:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data = _require_object(body)
        if "key" not in data:
            raise _e422([{"type": "missing", "loc": ["body", "key"], "msg": "Field required"}])
        errors: list[dict[str, Any]] = []
        key = _coerce(data["key"], "str", ["body", "key"], errors)
        if data["key"] is None:
            errors.append(
                {"type": "string_type", "loc": ["body", "key"], "msg": "Input should be a valid string"}
            )
        if errors:
            raise _e422(errors)
        assert isinstance(key, str)
        if not is_valid_api_key(key):
            raise _ProxyExc("Invalid key format.", "bad_request_error", "key", 400)
        hashed = hash_token(key) if key.startswith("sk-") else key
        route = "/key/block" if blocked else "/key/unblock"
        with self._lock:
            row = self._keys.get(hashed)
            if not caller.is_admin:  # _check_key_admin_access: raw HTTPException -> E-DETAIL
                if row is None:
                    raise _HTTPExc(404, {"error": f"Key not found: {hashed}"})
                raise _HTTPExc(
                    403,
                    {
                        "error": f"Only proxy admins, team admins, or org admins can call {route}. "
                        f"user_role={caller.user_role}, user_id={caller.user_id}"
                    },
                )
            if row is None:
                raise _ProxyExc("Key not found.", "not_found_error", "key", 404)
            now = _ms(_now())
            row["blocked"] = blocked
            row["settings_updated_at"] = now
            row["updated_at"] = now
            self._touch()
            return copy.deepcopy(row), caller

    def _ep_key_block(self, req: _Request) -> _Response:
        row, _ = self._block_common(req, blocked=True)
        # response_model LiteLLM_VerificationToken: token = hash, org_id = null
        return _Response(200, _to_jsonable(self._verification_token_view(row), z_dates=True))

    def _ep_key_unblock(self, req: _Request) -> _Response:
        row, _ = self._block_common(req, blocked=False)
        # no response model: the raw prisma row (every column incl. organization_id)
        return _Response(200, _to_jsonable(self._prisma_dump(row), z_dates=True))

    # ---- /key/regenerate (contract §2.7) -------------------------------------------------------

    def _ep_key_regenerate(self, req: _Request, key: str | None = None) -> _Response:
        body = self._parse_body(req)
        caller = self._auth(req, body)
        data: dict[str, Any] | None = None
        if body is not _MISSING:
            data = self._validated_key_body(body, REGENERATE_FIELDS, generate=True)
        try:
            with self._lock:
                return _Response(200, self._regenerate(data, key, caller, req))
        except Exception as e:
            raise _via_handle_exception_on_proxy(e) from e

    def _regenerate(
        self, data: dict[str, Any] | None, path_key: str | None, caller: _Caller, req: _Request
    ) -> dict[str, Any]:
        target = (data or {}).get("key") or path_key
        is_master_rotation = (
            data is not None
            and data.get("new_master_key") is not None
            and target is not None
            and secrets.compare_digest(target.encode(), self.master_key.encode())
        )
        if not self.premium and not is_master_rotation:  # contract §2.7: FIRST, before the lookup
            raise ValueError(f"Regenerating Virtual Keys is an Enterprise feature, {NOT_PREMIUM}")
        key = target
        if not key:
            raise _HTTPExc(400, {"error": "No key passed in."})
        if data is not None and secrets.compare_digest(key.encode(), self.master_key.encode()):
            if data.get("new_master_key") is None:
                raise _HTTPExc(400, {"error": "New master key is required."})
            self.master_key = data["new_master_key"]
            new = data["new_master_key"]
            return self._generate_response({"key": new, "token": new, "key_name": new, "expires": None})
        hashed = key if "sk" not in key else hash_token(key)  # upstream tests `"sk" not in key`
        row = self._keys.get(hashed)
        if row is None:
            raise _HTTPExc(404, {"error": f"Key {key} not found."})
        if not caller.is_admin and (row.get("team_id") is not None or row.get("user_id") != caller.user_id):
            raise _HTTPExc(403, {"error": "You are not authorized to regenerate this key"})
        new_key = (data or {}).get("new_key")
        if new_key is not None:
            if not new_key.startswith("sk-"):
                raise _HTTPExc(
                    400,
                    {
                        "error": "New key must start with 'sk-'. This is to distinguish a key hash (used by "
                        "litellm for logging / internal logic) from the actual key."
                    },
                )
            if len(new_key) < MIN_CUSTOM_KEY_LENGTH:
                raise _HTTPExc(
                    400, {"error": f"New key must be at least {MIN_CUSTOM_KEY_LENGTH} characters long."}
                )
            raw = new_key
        else:
            raw = f"sk-{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"
        values = self._prepare_update(data, row) if data is not None else {}
        if "key_alias" in values and values["key_alias"] != row.get("key_alias"):
            self._validate_alias_format(values["key_alias"])
        self._archive(row, caller, req.headers.get("litellm-changed-by"))
        grace = (data or {}).get("grace_period")
        new_hash = hash_token(raw)
        if grace:
            try:
                seconds = duration_in_seconds(grace)
            except ValueError:
                seconds = 0
            if seconds > 0:
                self._deprecated[hashed] = (new_hash, _now() + timedelta(seconds=seconds))
        self._remove_row(hashed)
        row["token"] = new_hash
        row["key_name"] = abbreviate_api_key(raw)
        self._insert_row(row)
        self._apply_values(row, values)
        response_values = {k: v for k, v in self._prisma_dump(row).items() if k != "token"}
        response_values.update(key=raw, token_id=new_hash, token=None)
        return self._generate_response(response_values)

    # ---- /key/health (contract §2.8) -----------------------------------------------------------

    def _ep_key_health(self, req: _Request) -> _Response:
        caller = self._auth(req)
        metadata = (caller.row or {}).get("metadata") or {}
        if "logging" not in metadata:
            return _Response(200, {"key": "healthy", "logging_callbacks": None})
        callbacks = [c.get("callback_name") for c in metadata["logging"] if isinstance(c, Mapping)]
        status = "healthy" if all(callbacks) else "unhealthy"
        details = (
            f"No logger exceptions triggered, system is healthy. Manually check if logs were sent to {callbacks}"
            if status == "healthy"
            else "Logger exceptions triggered, system is unhealthy: callback_name missing"
        )
        return _Response(
            200,
            {
                "key": status,
                "logging_callbacks": {"callbacks": callbacks, "status": status, "details": details},
            },
        )

    # ---- /v1/chat/completions (contract §5) ----------------------------------------------------

    def _ep_chat(self, req: _Request) -> _Response:
        parse_error: str | None = None
        body: Any = {}
        if req.body:
            try:
                body = json.loads(req.body)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                parse_error = f"Invalid JSON payload: {e}"
        bad_json = _ProxyExc(parse_error or "", "invalid_request_error", "request_body", 400)
        if parse_error is None and not isinstance(body, dict):
            raise _Answer(_bare_500())
        try:
            caller = self._auth(req, body if parse_error is None else _MISSING)
        except _ProxyExc:
            if parse_error is not None:  # the body parse failure wins (user_api_key_auth)
                raise bad_json from None
            raise
        if parse_error is not None:
            raise bad_json
        if "messages" not in body:
            raise _ProxyExc(
                "/chat/completions: Missing required parameter: 'messages'.",
                "invalid_request_error",
                "messages",
                400,
            )
        model = body.get("model")
        slot: str | None = None
        if caller.row is not None:
            slot = self._rate_limit(caller.row)
        try:
            with self._lock:
                deployment = next((d for d in self._deployments() if d["model_name"] == model), None)
            if deployment is None:
                message = (
                    f"/chat/completions: Invalid model name passed in model={model}. "
                    "Call `/v1/models` to view available models for your key."
                )
                raise _ProxyExc(
                    message, "invalid_request_error", None, 400, provider_specific_fields={"error": message}
                )
            delay = self.faults.completion_delay
            if delay > 0:
                self._wait_or_stopped(delay)
            content = str(deployment["litellm_params"].get("mock_response") or DEFAULT_MOCK_RESPONSE)
            usage = {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30}
            spend_after = 0.0
            with self._lock:
                if caller.row is not None:
                    stored = self._keys.get(caller.row["token"])
                    if stored is not None:
                        stored["spend"] = float(stored.get("spend") or 0.0) + self.spend_per_call
                        # Only the spend writer stamps last_active, when a key is used (LiteLLM
                        # 1.106.2 proxy/db/db_spend_update_writer.py,
                        # DBSpendUpdateWriter._commit_spend_updates_to_db: the key table's
                        # update_many sets spend, total_spend and last_active); /key/update never
                        # does (UpdateKeyRequest in proxy/_types.py has no last_active field).
                        stored["last_active"] = _ms(_now())
                        spend_after = stored["spend"]
                        self._touch()
                    self._tpm_windows.setdefault(caller.row["token"], deque()).append(
                        (time.monotonic(), usage["total_tokens"])
                    )
        finally:
            if slot is not None:
                with self._lock:
                    self._in_flight[slot] -= 1
        completion_id = f"chatcmpl-{uuid.uuid4()}"
        created = int(time.time())
        headers = {
            "x-litellm-call-id": str(uuid.uuid4()),
            "x-litellm-model-id": deployment["model_info"]["id"],
            "x-litellm-model-name": str(deployment["litellm_params"].get("model")),
            "x-litellm-version": LITELLM_VERSION,
            "x-litellm-key-spend": str(spend_after),
            "x-litellm-model-group": str(model),
        }
        if body.get("stream") is True:
            chunks = [content[i : i + 3] for i in range(0, len(content), 3)] or [""]
            events = []
            for i, piece in enumerate(chunks):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                events.append(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [{"index": 0, "delta": delta}],
                    }
                )
            events.append(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
            payload = (
                "".join(f"data: {json.dumps(e, separators=(',', ':'))}\n\n" for e in events)
                + "data: [DONE]\n\n"
            )
            return _Response(200, payload.encode(), headers, content_type="text/event-stream")
        return _Response(
            200,
            {
                "id": completion_id,
                "created": created,
                "model": model,
                "object": "chat.completion",
                "choices": [
                    {
                        "finish_reason": "stop",
                        "index": 0,
                        "message": {"content": content, "role": "assistant"},
                    }
                ],
                "usage": usage,
            },
            headers,
        )

    def _rate_limit(self, row: Mapping[str, Any]) -> str:
        """hooks/parallel_request_limiter_v3: 429 throttling_error (contract §5). Takes a slot."""
        token = row["token"]
        now = time.monotonic()
        with self._lock:
            rpm_window = self._rpm_windows.setdefault(token, deque())
            while rpm_window and now - rpm_window[0] >= RATE_LIMIT_WINDOW:
                rpm_window.popleft()
            tpm_window = self._tpm_windows.setdefault(token, deque())
            while tpm_window and now - tpm_window[0][0] >= RATE_LIMIT_WINDOW:
                tpm_window.popleft()
            checks = (
                ("max_parallel_requests", row.get("max_parallel_requests"), self._in_flight[token]),
                ("requests", row.get("rpm_limit"), len(rpm_window)),
                ("tokens", row.get("tpm_limit"), sum(n for _, n in tpm_window)),
            )
            for limit_type, limit, used in checks:
                if limit is not None and used >= limit:
                    reset_at = datetime.fromtimestamp(time.time() + RATE_LIMIT_WINDOW, tz=UTC).strftime(
                        "%Y-%m-%d %H:%M:%S UTC"
                    )
                    raise _ProxyExc(
                        f"Rate limit exceeded for api_key: {token}. Limit type: {limit_type}. "
                        f"Current limit: {limit}, Remaining: 0. Limit resets at: {reset_at}",
                        "throttling_error",
                        None,
                        429,
                        headers={
                            "retry-after": str(RATE_LIMIT_WINDOW),
                            "rate_limit_type": limit_type,
                            "reset_at": reset_at,
                        },
                    )
            rpm_window.append(now)
            self._in_flight[token] += 1
        return token

    # ---- control API (/_sim/*) ---------------------------------------------------------------

    def _control(self, req: _Request) -> _Response:
        """Control API for tests in other processes. Needs the master key (Bearer)."""
        supplied = self._extract_api_key(req.headers) or ""
        with self._lock:
            master = self.master_key
        if not secrets.compare_digest(supplied.encode(), master.encode()):
            return _Response(401, {"detail": "simulator control API: master key required"})
        try:
            body = json.loads(req.body) if req.body else {}
        except json.JSONDecodeError:
            return _Response(400, {"detail": "simulator control API: invalid JSON"})
        if not isinstance(body, dict):
            return _Response(400, {"detail": "simulator control API: a JSON object is required"})
        route = (req.method, req.path.rstrip("/"))
        try:
            if route == ("GET", "/_sim/state"):
                return _Response(200, self.state())
            if route == ("GET", "/_sim/faults"):
                return _Response(200, self.faults.as_dict())
            if route == ("POST", "/_sim/faults"):
                return _Response(200, self.set_faults(**body).as_dict())
            if route == ("POST", "/_sim/clear_faults"):
                self.clear_faults()
                return _Response(200, self.faults.as_dict())
            if route == ("POST", "/_sim/config"):
                self.configure(**body)
                return _Response(200, self.state())
            if route == ("POST", "/_sim/reset"):
                self.reset()
                return _Response(200, self.state())
            if route == ("POST", "/_sim/reset_calls"):
                self.reset_calls()
                return _Response(200, {"total_calls": 0})
            if route == ("POST", "/_sim/seed_keys"):
                n = int(body.get("n", 0))
                raws = self.seed_keys(n, **_parse_date_fields(body.get("fields") or {}))
                return _Response(200, {"created": n, "keys": raws if body.get("return_keys", True) else []})
            if route == ("POST", "/_sim/set_spend"):
                self.set_spend(str(body["token"]), float(body["spend"]))
                return _Response(200, {"ok": True})
            if route == ("POST", "/_sim/update_key"):
                self.update_key_fields(str(body["token"]), **_parse_date_fields(body.get("fields") or {}))
                return _Response(200, {"ok": True})
            if route == ("POST", "/_sim/users"):
                self.add_user(str(body.pop("user_id")), **body)
                return _Response(200, {"ok": True})
            if route == ("POST", "/_sim/reset_budgets"):
                return _Response(200, {"reset": self.reset_budgets()})
            if req.method == "GET" and req.path.startswith("/_sim/key/"):
                row = self.get_key(req.path[len("/_sim/key/") :])
                if row is None:
                    return _Response(404, {"detail": "no such key"})
                return _Response(200, _to_jsonable(row, z_dates=False))
        except (TypeError, KeyError, ValueError) as e:
            return _Response(400, {"detail": f"simulator control API: {e}"})
        return _Response(404, {"detail": "simulator control API: unknown route"})


def _parse_date_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Control API: ISO strings for the datetime columns become datetimes."""
    out = dict(fields)
    for name in ("expires", "budget_reset_at", "created_at", "updated_at", "last_active"):
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name].replace("Z", "+00:00"))
    return out


def _sort_rows(rows: list[dict[str, Any]], sort_by: str, order: str) -> list[dict[str, Any]]:
    """Postgres order: ASC puts NULLs last, DESC puts them first; stable for ties."""
    present = [r for r in rows if r.get(sort_by) is not None]
    nulls = [r for r in rows if r.get(sort_by) is None]
    present.sort(key=lambda r: r[sort_by], reverse=(order == "desc"))
    return nulls + present if order == "desc" else present + nulls


# Reversible stand-in for the proxy's nacl encryption of DB model params (§3.3: "encrypted").
_ENC_PREFIX: Final = b"litellm-sim-enc:"


def _encrypt(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return base64.urlsafe_b64encode(_ENC_PREFIX + secrets.token_bytes(6) + value.encode()).decode()


def _decrypt(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, TypeError):
        return value
    if not raw.startswith(_ENC_PREFIX):
        return value
    return raw[len(_ENC_PREFIX) + 6 :].decode()


_CONTROL_ROUTES: Final = (
    "GET /_sim/state",
    "GET /_sim/faults",
    "POST /_sim/faults",
    "POST /_sim/clear_faults",
    "POST /_sim/config",
    "POST /_sim/reset",
    "POST /_sim/reset_calls",
    "POST /_sim/seed_keys",
    "POST /_sim/set_spend",
    "POST /_sim/update_key",
    "POST /_sim/users",
    "POST /_sim/reset_budgets",
    "GET /_sim/key/<hash>",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LiteLLM proxy contract simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--master-key", required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--premium", action="store_true")
    parser.add_argument("--store-model-in-db", action="store_true")
    parser.add_argument("--db-status", default="connected")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models-json", help="JSON list of {model_name, litellm_params} (default: mocks)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    sim = LiteLLMSimulator(
        master_key=args.master_key,
        host=args.host,
        port=args.port,
        premium=args.premium,
        store_model_in_db=args.store_model_in_db,
        db_status=args.db_status,
        seed=args.seed,
        latency=args.latency,
        models=json.loads(args.models_json) if args.models_json else None,
        verbose=args.verbose,
    )
    done = threading.Event()

    def _shutdown(*_: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    sim.start()
    print(f"READY {sim.base_url}", flush=True)
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
