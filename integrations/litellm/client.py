"""LiteLLM proxy management API: keys, models, health. Pure HTTP and typed results.

The facts come from ../shared/contracts/litellm.md (read from LiteLLM 1.106.2's source):
section numbers in comments below ("§2.4") point there. No Django models here.

Rules this client keeps:
- Keys are named by their sha256 hash (contract §1), never by the raw key: a raw key in a
  URL would land in access logs. `hash_token` is LiteLLM's own hashing.
- The master key travels only in the Authorization header, and only on routes that need it:
  the public health probes (`/health/liveliness`, `/health/readiness`, contract "Running the
  REAL proxy") go without it, so a probe of a wrong address hands nobody the key. LiteLLM's
  error text is scrubbed of it before it becomes part of an exception.
- LiteLLM answers some permanent failures with 500 (enterprise refusal, STORE_MODEL_IN_DB
  unset, no database, invalid duration): those are marked not retryable.
- `/health` calls every model for real (it costs money): only `health_check_models()`,
  which nothing calls on a schedule.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from integrations.http import ErrorKind, VendorBadResponse, VendorError, VendorHTTP, VendorHTTPError
from integrations.litellm.errors import litellm_error_message

VENDOR = "LiteLLM"
# /key/list accepts size 1..100 (§2.4); larger is a 422.
MAX_PAGE_SIZE = 100
# LiteLLM's own keys are "sk-" + token_urlsafe(16) (§1); ours are longer.
RAW_KEY_BYTES = 32
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")

# LiteLLM's permanent answers that arrive as 500 (contract §2.1, §2.7, §3.3 and the
# no-database answers seen on the real proxy): retrying cannot help.
_PERMANENT_500_MARKERS = (
    "enterprise feature",
    "only available for litellm enterprise",
    "store_model_in_db",
    "db not connected",
    "no db connected",
    "database not connected",
    "no connected db",
    "invalid duration",
)


def hash_token(raw_key: str) -> str:
    """LiteLLM's key identity: sha256 of the raw key, 64 lowercase hex (§1, `_types.hash_token`)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def generate_raw_key() -> str:
    """A new raw virtual key made here, so a lost answer can be recovered by its hash."""
    return "sk-" + secrets.token_urlsafe(RAW_KEY_BYTES)


def abbreviate_key(raw_key: str) -> str:
    """LiteLLM's `key_name` (`auth_utils.abbreviate_api_key`): "sk-..." + the last 4."""
    return f"sk-...{raw_key[-4:]}" if len(raw_key) >= 16 else "sk-..."


def is_token_hash(value: str) -> bool:
    return bool(_HASH_RE.match(value))


def normalise_base_url(url: str) -> str:
    """The proxy root, whether the operator pasted it with or without `/v1` (the seeds use both)."""
    url = url.strip()
    if not url:
        raise ValueError("the LiteLLM URL is empty")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class RegenerateRefused(VendorHTTPError):
    """Open-source LiteLLM refuses /key/regenerate (enterprise only, §2.7): rotate another way."""


class KeyNotFound(VendorHTTPError):
    """LiteLLM has no key with that hash (404, or 'No keys found')."""


# --- typed results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInfo:
    """One virtual key as LiteLLM holds it. `token` is the sha256 hash, never the raw key."""

    token: str
    key_alias: str | None = None
    key_name: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    models: list[str] = field(default_factory=list)
    max_budget: float | None = None
    budget_duration: str | None = None
    # When LiteLLM next zeroes `spend` (only from /key/info and /key/list: /key/generate's
    # answer has no such field, _types.py GenerateKeyResponse).
    budget_reset_at: datetime | None = None
    soft_budget: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    expires: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    blocked: bool = False
    spend: float = 0.0
    created_at: datetime | None = None
    status: str | None = None  # only from /key/info (§2.3)
    # When the key was last used: stamped only by LiteLLM's spend writer (LiteLLM 1.106.2
    # proxy/db/db_spend_update_writer.py, _commit_spend_updates_to_db), never by /key/update.
    # `updated_at` is no substitute: every /key/update moves it, the portal's own included.
    last_active: datetime | None = None


@dataclass(frozen=True)
class GeneratedKey:
    raw_key: str
    info: KeyInfo


@dataclass(frozen=True)
class KeyPage:
    keys: list[KeyInfo]
    total_count: int
    current_page: int
    total_pages: int


@dataclass(frozen=True)
class ModelDeployment:
    """One entry of /model/info (§3.2); secrets were already removed by LiteLLM."""

    model_name: str
    model_id: str
    provider_model: str
    db_model: bool
    litellm_params: dict[str, Any]


@dataclass(frozen=True)
class Readiness:
    status: str
    db: str
    litellm_version: str


@dataclass(frozen=True)
class HealthReport:
    healthy: list[dict[str, Any]]
    unhealthy: list[dict[str, Any]]


# --- parsing ------------------------------------------------------------------------------------


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if isinstance(value, int) or value.is_integer() else None


def _opt_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)  # LiteLLM stores UTC (§2.1 "ISO-8601 UTC")
    return parsed


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):  # prisma Json columns sometimes come back as strings [?]
        try:
            loaded = json.loads(value)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def parse_key_row(row: Mapping[str, Any], *, token: str | None = None) -> KeyInfo:
    """A key row from /key/generate, /key/update, /key/info, /key/list or /key/block (§2)."""
    found = token or row.get("token") or row.get("token_id")
    if not isinstance(found, str) or not found:
        raise ValueError("key row without a token hash")
    budget_table = row.get("litellm_budget_table")
    soft_budget = _opt_float(row.get("soft_budget"))
    if soft_budget is None and isinstance(budget_table, dict):
        soft_budget = _opt_float(budget_table.get("soft_budget"))
    models = row.get("models")
    return KeyInfo(
        token=found,
        key_alias=_opt_str(row.get("key_alias")),
        key_name=_opt_str(row.get("key_name")),
        user_id=_opt_str(row.get("user_id")),
        team_id=_opt_str(row.get("team_id")),
        models=[m for m in models if isinstance(m, str)] if isinstance(models, list) else [],
        max_budget=_opt_float(row.get("max_budget")),
        budget_duration=_opt_str(row.get("budget_duration")),
        budget_reset_at=_opt_datetime(row.get("budget_reset_at")),
        soft_budget=soft_budget,
        tpm_limit=_opt_int(row.get("tpm_limit")),
        rpm_limit=_opt_int(row.get("rpm_limit")),
        max_parallel_requests=_opt_int(row.get("max_parallel_requests")),
        expires=_opt_datetime(row.get("expires")),
        metadata=_metadata(row.get("metadata")),
        blocked=bool(row.get("blocked")),
        spend=_opt_float(row.get("spend")) or 0.0,
        created_at=_opt_datetime(row.get("created_at")),
        status=_opt_str(row.get("status")),
        last_active=_opt_datetime(row.get("last_active")),
    )


def _classify(response: requests.Response, vendor_message: str) -> bool | None:
    if response.status_code == 500:
        lowered = vendor_message.lower()
        if any(marker in lowered for marker in _PERMANENT_500_MARKERS):
            return False
    return None


def _as(cls: type[VendorHTTPError], error: VendorHTTPError) -> VendorHTTPError:
    return cls(
        error.message,
        kind=error.kind,
        retryable=False,
        vendor=error.vendor,
        url=error.url,
        status=error.status,
        retry_after=error.retry_after,
        vendor_message=error.vendor_message,
    )


# --- the client ---------------------------------------------------------------------------------


class LiteLLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        master_key: str,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        if not master_key:
            raise ValueError("the LiteLLM master key is empty")
        self.base_url = normalise_base_url(base_url)
        self._master_key = master_key
        self._auth = {"Authorization": f"Bearer {master_key}"}

        def error_message(response: requests.Response) -> str:
            # LiteLLM echoes what it was given in some messages: never let the master key through.
            return litellm_error_message(response).replace(master_key, "********")

        self.http = VendorHTTP(
            vendor=VENDOR,
            base_url=self.base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            error_message=error_message,
            classify=_classify,
        )

    def __repr__(self) -> str:
        return f"LiteLLMClient({self.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers ---

    def _request(self, method: str, path: str, *, public: bool = False, **kwargs: Any) -> requests.Response:
        """One call; the master key goes along unless the route is `public` (needs no key)."""
        return self.http.request(method, path, headers=None if public else self._auth, **kwargs)

    def _object(self, method: str, path: str, *, public: bool = False, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, public=public, **kwargs)
        body = self.http.parse_json(response)
        if not isinstance(body, dict):
            raise self.http.bad_shape(response, f"expected a JSON object, got {type(body).__name__}")
        return body

    def _key_row(self, response_url: str, row: Any, *, token: str | None = None) -> KeyInfo:
        if not isinstance(row, dict):
            raise self.http.bad_shape(response_url, "a key row that is not an object")
        try:
            return parse_key_row(row, token=token)
        except ValueError as exc:
            raise self.http.bad_shape(response_url, str(exc)) from None

    @staticmethod
    def _require_hash(token_hash: str) -> str:
        if not is_token_hash(token_hash):
            # Never put a raw key (or anything else) where a hash belongs (§1).
            raise ValueError("expected a 64-character sha256 key hash")
        return token_hash

    # --- health (§ "Running the REAL proxy", §3) ---

    def liveliness(self) -> str:
        body = self.http.parse_json(self._request("GET", "/health/liveliness", public=True))
        if not isinstance(body, str):
            raise self.http.bad_shape(self.http.url("/health/liveliness"), "liveliness is not a string")
        return body

    def readiness(self) -> Readiness:
        """Readiness with the version: /health/readiness/details needs the master key (1.106.2);
        older proxies put the version into the public /health/readiness."""
        try:
            body = self._object("GET", "/health/readiness/details")
        except VendorHTTPError as exc:
            if exc.status not in (404, 405):
                raise
            body = self._object("GET", "/health/readiness", public=True)
        return Readiness(
            status=str(body.get("status", "")),
            db=str(body.get("db", "")),
            litellm_version=str(body.get("litellm_version") or ""),
        )

    def health_check_models(self) -> HealthReport:
        """`/health`: calls every model for real. Costs money: on demand only."""
        body = self._object("GET", "/health", timeout=120)
        healthy = body.get("healthy_endpoints")
        unhealthy = body.get("unhealthy_endpoints")
        if not isinstance(healthy, list) or not isinstance(unhealthy, list):
            raise self.http.bad_shape(self.http.url("/health"), "no healthy_endpoints/unhealthy_endpoints")
        return HealthReport(healthy=healthy, unhealthy=unhealthy)

    # --- models (§3) ---

    def model_names(self) -> list[str]:
        body = self._object("GET", "/v1/models")
        data = body.get("data")
        if not isinstance(data, list):
            raise self.http.bad_shape(self.http.url("/v1/models"), "no 'data' list")
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

    def model_info(self) -> list[ModelDeployment]:
        body = self._object("GET", "/model/info")
        data = body.get("data")
        if not isinstance(data, list):
            raise self.http.bad_shape(self.http.url("/model/info"), "no 'data' list")
        found = []
        for item in data:
            if not isinstance(item, dict):
                continue
            params = item.get("litellm_params") or {}
            info = item.get("model_info") or {}
            if isinstance(params, str):
                params = _metadata(params)
            if isinstance(info, str):
                info = _metadata(info)
            model_id = info.get("id")
            if not isinstance(model_id, str) or not isinstance(item.get("model_name"), str):
                raise self.http.bad_shape(self.http.url("/model/info"), "a model without model_name or id")
            found.append(
                ModelDeployment(
                    model_name=item["model_name"],
                    model_id=model_id,
                    provider_model=str(params.get("model", "")),
                    db_model=bool(info.get("db_model")),
                    litellm_params=params,
                )
            )
        return found

    def model_new(
        self,
        *,
        model_name: str,
        litellm_params: Mapping[str, Any],
        model_info: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a database model (needs STORE_MODEL_IN_DB=True on the proxy, §3.3). Returns its id."""
        body: dict[str, Any] = {"model_name": model_name, "litellm_params": dict(litellm_params)}
        if model_info:
            body["model_info"] = dict(model_info)
        answer = self._object("POST", "/model/new", json_body=body)
        model_id = answer.get("model_id")
        if not isinstance(model_id, str):
            info = answer.get("model_info")
            model_id = info.get("id") if isinstance(info, dict) else None
        if not isinstance(model_id, str):
            raise self.http.bad_shape(self.http.url("/model/new"), "no model_id in the answer")
        return model_id

    def model_delete(self, *, model_id: str) -> None:
        self._object("POST", "/model/delete", json_body={"id": model_id})

    # --- keys (§2) ---

    def key_generate(self, *, raw_key: str, fields: Mapping[str, Any]) -> GeneratedKey:
        """POST /key/generate with our own raw key (§2.1: `key`, sk- and >= 16 chars).

        Never retried here: if the answer is lost, the caller asks `key_find(hash_token(raw))`.
        """
        body = {k: v for k, v in fields.items() if k != "key"}
        body["key"] = raw_key
        response = self._request("POST", "/key/generate", json_body=body)
        answer = self.http.parse_json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("key"), str):
            raise self.http.bad_shape(response, "no 'key' in the /key/generate answer")
        token = answer.get("token_id") or answer.get("token") or hash_token(raw_key)
        return GeneratedKey(raw_key=raw_key, info=self._key_row(response.url, answer, token=token))

    def key_update(self, *, token_hash: str, fields: Mapping[str, Any]) -> KeyInfo:
        """POST /key/update: a merge patch, except `metadata`, which replaces wholesale (§2.2)."""
        body = dict(fields)
        body["key"] = self._require_hash(token_hash)
        try:
            response = self._request("POST", "/key/update", json_body=body)
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise _as(KeyNotFound, exc) from None
            raise
        answer = self.http.parse_json(response)
        return self._key_row(response.url, answer, token=token_hash)

    def key_info(self, *, token_hash: str) -> KeyInfo:
        try:
            response = self._request("GET", "/key/info", params={"key": self._require_hash(token_hash)})
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise _as(KeyNotFound, exc) from None
            raise
        answer = self.http.parse_json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("info"), dict):
            raise self.http.bad_shape(response, "no 'info' object in /key/info")
        # `info` has no `token` (§2.3): the hash is the one we asked for.
        return self._key_row(response.url, answer["info"], token=token_hash)

    def key_find(self, *, token_hash: str) -> KeyInfo | None:
        """The key if LiteLLM holds it and has not deleted it, else None."""
        try:
            info = self.key_info(token_hash=token_hash)
        except KeyNotFound:
            return None
        if info.status == "deleted":  # served from the deleted-keys archive (§2.3)
            return None
        return info

    def key_list(
        self,
        *,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
        sort_by: str = "created_at",
        sort_order: str = "asc",
        key_alias: str | None = None,
        user_id: str | None = None,
    ) -> KeyPage:
        """One page of full key rows, in a stable order (created_at ascending by default)."""
        params: dict[str, Any] = {
            "page": page,
            "size": min(max(size, 1), MAX_PAGE_SIZE),
            "return_full_object": "true",
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        if key_alias is not None:
            params["key_alias"] = key_alias
        if user_id is not None:
            params["user_id"] = user_id
        response = self._request("GET", "/key/list", params=params)
        body = self.http.parse_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise self.http.bad_shape(response, "no 'keys' list in /key/list")
        keys = [self._key_row(response.url, row) for row in body["keys"]]
        total = _opt_int(body.get("total_count"))
        pages = _opt_int(body.get("total_pages"))
        return KeyPage(
            keys=keys,
            total_count=total if total is not None else len(keys),
            current_page=_opt_int(body.get("current_page")) or page,
            total_pages=pages if pages is not None else 1,
        )

    def key_delete(self, *, token_hashes: Sequence[str]) -> list[str]:
        """Delete keys by hash. Raises KeyNotFound when none of them exists (§2.5)."""
        hashes = [self._require_hash(h) for h in token_hashes]
        try:
            answer = self._object("POST", "/key/delete", json_body={"keys": hashes})
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise _as(KeyNotFound, exc) from None
            raise
        deleted = answer.get("deleted_keys")
        return [str(x) for x in deleted] if isinstance(deleted, list) else []

    def key_block(self, *, token_hash: str) -> KeyInfo:
        return self._block("/key/block", token_hash)

    def key_unblock(self, *, token_hash: str) -> KeyInfo:
        return self._block("/key/unblock", token_hash)

    def _block(self, path: str, token_hash: str) -> KeyInfo:
        try:
            response = self._request("POST", path, json_body={"key": self._require_hash(token_hash)})
        except VendorHTTPError as exc:
            if exc.status == 404:
                raise _as(KeyNotFound, exc) from None
            raise
        return self._key_row(response.url, self.http.parse_json(response), token=token_hash)

    def key_regenerate(self, *, token_hash: str, new_raw_key: str) -> GeneratedKey:
        """Enterprise only (§2.7). Open source answers 500 'Enterprise feature': RegenerateRefused."""
        path = f"/key/{self._require_hash(token_hash)}/regenerate"
        try:
            response = self._request("POST", path, json_body={"new_key": new_raw_key})
        except VendorHTTPError as exc:
            if exc.status == 500 and "enterprise" in exc.vendor_message.lower():
                raise _as(RegenerateRefused, exc) from None
            raise
        answer = self.http.parse_json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("key"), str):
            raise self.http.bad_shape(response, "no 'key' in the regenerate answer")
        # token is null in this answer; token_id carries the new hash (§2.7).
        token = answer.get("token_id") or hash_token(answer["key"])
        return GeneratedKey(raw_key=answer["key"], info=self._key_row(response.url, answer, token=token))


def is_lost_answer(error: Exception) -> bool:
    """A POST whose outcome is unknown: the request may have been carried out."""
    if isinstance(error, VendorBadResponse):
        return True
    if not isinstance(error, VendorError):
        return False
    if error.kind in (ErrorKind.DROPPED, ErrorKind.READ_TIMEOUT):
        return True
    return error.kind == ErrorKind.HTTP_STATUS and (error.status or 0) >= 500 and error.retryable
