"""The LiteLLM simulator answers like the contract (/work/shared/contracts/litellm.md) says.

Plain ``requests`` against a simulator on a real socket; one behaviour per test.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.simulators.litellm import LiteLLMSimulator, hash_token

MASTER = "sk-test-master-0123456789abcdef"
REPO_ROOT = Path(__file__).resolve().parents[2]
NOT_PREMIUM = (
    "You must be a LiteLLM Enterprise user to use this feature. If you have a license please set "
    "`LITELLM_LICENSE` in your env. Get a 7 day trial key here: https://www.litellm.ai/enterprise#trial. "
    "\nPricing: https://www.litellm.ai/#pricing"
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiteLLMSimulator]:
    sim = LiteLLMSimulator(master_key=MASTER, seed=7)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server: LiteLLMSimulator) -> Iterator[LiteLLMSimulator]:
    server.reset()
    if not server.running:
        server.start()
    yield server
    server.reset()


def call(
    sim: LiteLLMSimulator,
    method: str,
    path: str,
    key: str | None = MASTER,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    merged = {"Authorization": f"Bearer {key}"} if key is not None else {}
    merged.update(headers or {})
    timeout = kwargs.pop("timeout", 5)
    return requests.request(method, sim.base_url + path, headers=merged, timeout=timeout, **kwargs)


def generate(sim: LiteLLMSimulator, **body: Any) -> dict[str, Any]:
    response = call(sim, "POST", "/key/generate", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_oai(response: requests.Response, status: int, message: str, type_: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {
        "error": {"message": message, "type": type_, "param": param, "code": str(status)}
    }


def chat(sim: LiteLLMSimulator, key: str, model: str = "gpt-4o-mock") -> requests.Response:
    return call(
        sim,
        "POST",
        "/v1/chat/completions",
        key=key,
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
    )


def past() -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC)


# ---- health -----------------------------------------------------------------------------------


def test_it_answers_liveliness_without_auth(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/health/liveliness", key=None)
    assert response.status_code == 200
    assert response.json() == "I'm alive!"


def test_it_reports_readiness_with_a_connected_db(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/health/readiness", key=None)
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "db": "connected"}


def test_it_reports_a_not_connected_db_when_configured(sim: LiteLLMSimulator) -> None:
    sim.configure(db_status="Not connected")
    assert call(sim, "GET", "/health/readiness", key=None).json()["db"] == "Not connected"


def test_it_adds_the_version_to_readiness_when_details_are_enabled(sim: LiteLLMSimulator) -> None:
    sim.configure(readiness_details=True)
    body = call(sim, "GET", "/health/readiness", key=None).json()
    assert body["litellm_version"] == "1.106.2"
    assert body["status"] == "healthy"


def test_it_reports_healthy_endpoints_per_model(sim: LiteLLMSimulator) -> None:
    body = call(sim, "GET", "/health").json()
    assert body["healthy_count"] == 2
    assert body["unhealthy_count"] == 0
    assert body["healthy_endpoints"][0] == {
        "model": "openai/gpt-4o",
        "model_id": "2c7259c4abc0351c0fbd33dcd5f041f8bd6ef081ced5330978338572930cf9d4",
    }


# ---- auth layer (contract §0, §2, §5) ---------------------------------------------------------


def test_it_rejects_a_request_without_any_key(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/list", key=None)
    assert_oai(response, 401, "Authentication Error, No api key passed in.", "auth_error", "None")


def test_it_rejects_an_authorization_header_without_the_bearer_prefix(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/list", key=None, headers={"Authorization": MASTER})
    assert_oai(
        response,
        401,
        "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.",
        "auth_error",
        "None",
    )


@pytest.mark.parametrize(
    "header", ["x-litellm-api-key", "API-Key", "x-api-key", "x-goog-api-key", "Ocp-Apim-Subscription-Key"]
)
def test_it_accepts_the_master_key_in_the_alternative_headers(sim: LiteLLMSimulator, header: str) -> None:
    response = call(sim, "GET", "/v1/models", key=None, headers={header: MASTER})
    assert response.status_code == 200


def test_it_rejects_a_wrong_master_key_as_a_token_not_in_the_db(sim: LiteLLMSimulator) -> None:
    wrong = "sk-wrong-master-key-9999"
    response = call(sim, "GET", "/key/list", key=wrong)
    assert_oai(
        response,
        401,
        "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...9999, "
        f"Key Hash (Token) ={hash_token(wrong)}. Unable to find token in cache or "
        "`LiteLLM_VerificationTokenTable`",
        "token_not_found_in_db",
        "key",
    )


def test_it_refuses_a_key_hash_as_a_bearer(sim: LiteLLMSimulator) -> None:
    token = generate(sim)["token"]
    response = call(sim, "GET", "/v1/models", key=token)
    assert_oai(
        response,
        401,
        f"LiteLLM Virtual Key expected. Received={token[:4]}****{token[-4:]}, expected to start with 'sk-'.",
        "auth_error",
        "None",
    )


def test_it_masks_a_short_non_sk_bearer_completely(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/v1/models", key="abc")
    assert response.json()["error"]["message"] == (
        "LiteLLM Virtual Key expected. Received=****, expected to start with 'sk-'."
    )


def test_it_limits_a_key_without_a_user_row_to_info_routes(sim: LiteLLMSimulator) -> None:
    key = generate(sim, user_id="nobody-here")["key"]
    response = call(sim, "POST", "/key/generate", key=key, json={})
    assert_oai(
        response,
        401,
        "Authentication Error, Only proxy admin can be used to generate, delete, update info for new "
        "keys/users/teams. Route=/key/generate. Your role=unknown. Your user_id=*******",
        "auth_error",
        "None",
    )


def test_it_lets_a_key_without_a_user_row_call_info_routes(sim: LiteLLMSimulator) -> None:
    key = generate(sim)["key"]
    assert call(sim, "GET", "/v1/models", key=key).status_code == 200
    assert call(sim, "GET", "/key/info", key=key).status_code == 200
    assert call(sim, "POST", "/key/health", key=key).status_code == 200


def test_it_refuses_key_list_to_a_key_without_a_user(sim: LiteLLMSimulator) -> None:
    key = generate(sim)["key"]
    response = call(sim, "GET", "/key/list", key=key)
    assert_oai(
        response,
        403,
        "You are not authorized to access this endpoint. No 'user_id' is associated with your API key.",
        "bad_request_error",
        "user_id",
    )


def test_it_gives_a_proxy_admin_users_key_admin_rights(sim: LiteLLMSimulator) -> None:
    sim.add_user("boss", user_role="proxy_admin")
    key = generate(sim, user_id="boss")["key"]
    assert call(sim, "POST", "/key/generate", key=key, json={}).status_code == 200


def test_it_lets_an_internal_user_generate_keys_only_for_themselves(sim: LiteLLMSimulator) -> None:
    sim.add_user("alice", user_role="internal_user")
    key = generate(sim, user_id="alice")["key"]
    own = call(sim, "POST", "/key/generate", key=key, json={})
    assert own.json()["user_id"] == "alice"
    other = call(sim, "POST", "/key/generate", key=key, json={"user_id": "bob"})
    assert_oai(
        other,
        403,
        "User can only create keys for themselves. Got user_id=bob, Your ID=alice",
        "internal_server_error",
        None,
    )


def test_it_scopes_key_list_to_an_internal_users_own_keys(sim: LiteLLMSimulator) -> None:
    sim.add_user("alice", user_role="internal_user")
    mine = generate(sim, user_id="alice")
    generate(sim, user_id="bob")
    body = call(sim, "GET", "/key/list", key=mine["key"]).json()
    assert body["keys"] == [mine["token"]]
    denied = call(sim, "GET", "/key/list", key=mine["key"], params={"user_id": "bob"})
    assert_oai(
        denied, 403, "You are not authorized to check another user's keys", "bad_request_error", "user_id"
    )


def test_it_rejects_a_blocked_key(sim: LiteLLMSimulator) -> None:
    key = generate(sim, blocked=True)["key"]
    assert_oai(
        chat(sim, key),
        401,
        "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
        "auth_error",
        "None",
    )


def test_it_rejects_an_expired_key(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    sim.update_key_fields(created["token"], expires=past())
    response = chat(sim, created["key"])
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "expired_key"
    assert error["param"] == f"sk-...{created['token'][-4:]}"
    assert error["message"].startswith(
        "Authentication Error - Expired Key. Key Expiry time 2025-01-01 00:00:00+00:00 and current time 20"
    )


def test_it_answers_404_for_unknown_paths(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/does/not/exist")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_it_answers_405_for_a_wrong_method(sim: LiteLLMSimulator) -> None:
    response = call(sim, "PUT", "/key/update", json={})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


def test_it_rejects_invalid_json_with_422_before_auth(sim: LiteLLMSimulator) -> None:
    response = call(
        sim, "POST", "/key/generate", key=None, data="{bad", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"type": "json_invalid", "loc": ["body", 1], "msg": "JSON decode error"}]
    }


def test_it_answers_a_json_array_body_with_the_bare_500(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json=[1])
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "Internal server error", "type": "internal_server_error"}}


def test_it_validates_body_types_after_auth_in_field_order(sim: LiteLLMSimulator) -> None:
    unauthenticated = call(sim, "POST", "/key/generate", key=None, json={"max_budget": "abc"})
    assert unauthenticated.status_code == 401
    response = call(sim, "POST", "/key/generate", json={"max_budget": "abc", "models": "x", "tpm_limit": 1.5})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"type": "list_type", "loc": ["body", "models"], "msg": "Input should be a valid list"},
            {
                "type": "float_parsing",
                "loc": ["body", "max_budget"],
                "msg": "Input should be a valid number, unable to parse string as a number",
            },
            {
                "type": "int_from_float",
                "loc": ["body", "tpm_limit"],
                "msg": "Input should be a valid integer, got a number with a fractional part",
            },
        ]
    }


def test_it_answers_a_missing_body_with_field_required(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate")
    assert response.json() == {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required"}]}


# ---- /key/generate (contract §2.1) ------------------------------------------------------------


def test_it_generates_a_key_with_its_hash_as_token_and_token_id(sim: LiteLLMSimulator) -> None:
    body = generate(sim, key_alias="first")
    raw = body["key"]
    assert raw.startswith("sk-")
    assert len(raw) == 25  # "sk-" + token_urlsafe(16)
    assert body["token"] == body["token_id"] == hashlib.sha256(raw.encode()).hexdigest()
    assert body["key_name"] == f"sk-...{raw[-4:]}"
    assert sim.get_key(raw) is not None


def test_it_starts_a_generated_key_at_the_spend_it_is_sent_and_echoes_it(sim: LiteLLMSimulator) -> None:
    # The contract page is silent; LiteLLM 1.106.2: GenerateRequestBase.spend (_types.py), which
    # generate_key_helper_fn (key_management_endpoints.py) writes to the key row and returns.
    body = generate(sim, max_budget=10, spend=9.5)
    assert body["spend"] == 9.5
    assert sim.get_key(body["key"])["spend"] == 9.5  # type: ignore[index]


def test_it_shapes_the_generate_response_like_generate_key_response(sim: LiteLLMSimulator) -> None:
    body = generate(sim, max_budget=10, soft_budget=2, send_invite_email=True)
    for absent in ("soft_budget", "send_invite_email", "auto_rotate", "rotation_interval"):
        assert absent not in body
    assert body["duration"] is None
    assert body["expires"] is None
    assert body["max_budget"] == 10.0
    assert body["spend"] == 0.0
    assert body["key_type"] == "default"
    assert body["created_by"] == body["updated_by"] == "default_user_id"
    assert body["litellm_budget_table"] is None
    assert body["allowed_routes"] == [] and body["access_group_ids"] == []
    assert body["router_settings"]["model_group_alias"] == {}
    assert len(body["router_settings"]) == 19
    assert body["created_at"].endswith("Z")


def test_it_sets_expires_from_duration(sim: LiteLLMSimulator) -> None:
    body = generate(sim, duration="1h")
    expires = datetime.fromisoformat(body["expires"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)


def test_it_keeps_soft_budget_in_a_budget_table_row(sim: LiteLLMSimulator) -> None:
    body = generate(sim, soft_budget=2.5)
    info = call(sim, "GET", "/key/info", params={"key": body["token"]}).json()["info"]
    assert info["budget_id"] == body["budget_id"] is not None
    assert info["litellm_budget_table"]["soft_budget"] == 2.5


@pytest.mark.parametrize(("sent", "shown"), [("-1", "-1.0"), ("NaN", "nan"), ("Infinity", "inf")])
def test_it_rejects_a_max_budget_that_is_negative_or_not_finite(
    sim: LiteLLMSimulator, sent: str, shown: str
) -> None:
    response = call(
        sim,
        "POST",
        "/key/generate",
        data=f'{{"max_budget": {sent}}}',
        headers={"content-type": "application/json"},
    )
    assert_oai(
        response,
        400,
        f"{{'error': 'max_budget must be a non-negative finite number. Received: {shown}'}}",
        "internal_server_error",
        None,
    )


def test_it_rejects_an_invalid_budget_duration_with_400(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"budget_duration": "abc"})
    assert_oai(
        response,
        400,
        "{'error': \"Invalid budget_duration 'abc'. Use a format like '1h', '24h', '7d', or '30d'.\"}",
        "internal_server_error",
        None,
    )


def test_it_sets_budget_reset_at_from_budget_duration(sim: LiteLLMSimulator) -> None:
    body = generate(sim, budget_duration="30d")
    reset_at = sim.get_key(body["token"])["budget_reset_at"]  # type: ignore[index]
    assert reset_at.day == 1 and reset_at.hour == 0  # 30d resets on the 1st of the month


def test_it_answers_500_for_an_invalid_duration(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"duration": "soon"})
    assert_oai(response, 500, "Invalid duration format", "internal_server_error", None)


def test_it_rejects_a_custom_key_without_the_sk_prefix(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"key": "abc-def-ghi-3456"})
    assert_oai(
        response,
        400,
        "{'error': \"Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: abc-****3456\"}",
        "internal_server_error",
        None,
    )


def test_it_rejects_a_custom_key_shorter_than_16_characters(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"key": "sk-short"})
    assert_oai(
        response,
        400,
        "{'error': 'Invalid key format. LiteLLM Virtual Key must be at least 16 characters long.'}",
        "internal_server_error",
        None,
    )


def test_it_accepts_a_custom_key_and_stores_only_its_hash(sim: LiteLLMSimulator) -> None:
    custom = "sk-my-custom-key-0001"
    body = generate(sim, key=custom)
    assert body["key"] == custom
    assert body["token"] == hash_token(custom)
    stored = sim.get_key(hash_token(custom))
    assert stored is not None and custom not in json.dumps(stored, default=str)


def test_it_answers_200_without_change_when_a_custom_key_already_exists(sim: LiteLLMSimulator) -> None:
    custom = "sk-my-custom-key-0002"
    generate(sim, key=custom, metadata={"v": 1})
    again = generate(sim, key=custom, metadata={"v": 2})
    assert again["token"] == hash_token(custom)
    assert sim.get_key(custom)["metadata"] == {"v": 1}  # type: ignore[index]
    assert sim.key_count() == 1


def test_it_rejects_a_duplicate_alias_on_generate(sim: LiteLLMSimulator) -> None:
    generate(sim, key_alias="team-a")
    response = call(sim, "POST", "/key/generate", json={"key_alias": "team-a"})
    assert_oai(
        response,
        400,
        "Key with alias 'team-a' already exists. Unique key aliases across all keys are required.",
        "bad_request_error",
        "key_alias",
    )


def test_it_rejects_an_alias_with_control_characters(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"key_alias": "bad\nalias"})
    assert_oai(response, 400, "Invalid key_alias", "bad_request_error", "key_alias")


def test_it_requires_premium_for_tags(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/generate", json={"tags": ["prod"]})
    assert_oai(
        response,
        403,
        str({"error": f"This feature is only available for LiteLLM Enterprise users: tags. {NOT_PREMIUM}"}),
        "internal_server_error",
        None,
    )
    assert response.json()["error"]["message"].startswith(
        "{'error': 'This feature is only available for LiteLLM Enterprise users: tags. You must be"
    )


def test_it_stores_tags_in_metadata_when_premium(sim: LiteLLMSimulator) -> None:
    sim.configure(premium=True)
    body = generate(sim, tags=["prod"], metadata={"team": "core"})
    assert body["tags"] is None
    assert body["metadata"] == {"team": "core", "tags": ["prod"]}


# ---- /key/update (contract §2.2) --------------------------------------------------------------


def test_it_requires_a_key_or_an_alias_on_update(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/update", json={"max_budget": 5})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body"],
                "msg": "Value error, either key or key_alias must be provided",
            }
        ]
    }


def test_it_updates_by_alias_and_echoes_the_token_hash(sim: LiteLLMSimulator) -> None:
    created = generate(sim, key_alias="by-alias")
    response = call(sim, "POST", "/key/update", json={"key_alias": "by-alias", "max_budget": 7})
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == created["token"]
    assert body["token"] == created["token"]
    assert body["max_budget"] == 7.0
    assert body["updated_at"].endswith("+00:00")


def test_it_echoes_the_key_exactly_as_sent_on_update(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    body = call(sim, "POST", "/key/update", json={"key": created["key"], "rpm_limit": 3}).json()
    assert body["key"] == created["key"]
    assert body["rpm_limit"] == 3


def test_it_replaces_metadata_wholesale_on_update(sim: LiteLLMSimulator) -> None:
    created = generate(sim, metadata={"a": 1, "b": 2})
    body = call(sim, "POST", "/key/update", json={"key": created["token"], "metadata": {"c": 3}}).json()
    assert body["metadata"] == {"c": 3}


def test_it_keeps_omitted_fields_and_clears_explicit_nulls_on_update(sim: LiteLLMSimulator) -> None:
    created = generate(sim, models=["gpt-4o-mock"], max_budget=5, tpm_limit=100)
    body = call(sim, "POST", "/key/update", json={"key": created["token"], "max_budget": None}).json()
    assert body["max_budget"] is None
    assert body["models"] == ["gpt-4o-mock"]
    assert body["tpm_limit"] == 100


@pytest.mark.parametrize("duration", [None, "-1"])
def test_it_makes_a_key_never_expire_with_a_null_or_minus_one_duration(
    sim: LiteLLMSimulator, duration: str | None
) -> None:
    created = generate(sim, duration="1h")
    body = call(sim, "POST", "/key/update", json={"key": created["token"], "duration": duration}).json()
    assert body["expires"] is None


def test_it_rejects_an_alias_taken_by_another_key_on_update(sim: LiteLLMSimulator) -> None:
    generate(sim, key_alias="taken")
    other = generate(sim, key_alias="mine")
    same = call(sim, "POST", "/key/update", json={"key": other["token"], "key_alias": "mine"})
    assert same.status_code == 200
    response = call(sim, "POST", "/key/update", json={"key": other["token"], "key_alias": "taken"})
    assert_oai(
        response,
        400,
        "Key with alias 'taken' already exists. Unique key aliases across all keys are required.",
        "bad_request_error",
        "key_alias",
    )


def test_it_answers_404_for_an_unknown_key_on_update(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/update", json={"key": "sk-unknown-key-123456"})
    assert_oai(response, 404, "Key not found.", "not_found_error", "key")


def test_it_answers_404_for_an_unknown_alias_on_update(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/update", json={"key_alias": "ghost"})
    assert_oai(response, 404, "Key not found. No key with key_alias='ghost'.", "not_found_error", "key_alias")


def test_it_refuses_an_alias_shared_by_several_keys_as_an_identifier(sim: LiteLLMSimulator) -> None:
    sim.add_key(key_alias="twin")
    sim.add_key(key_alias="twin")
    response = call(sim, "POST", "/key/update", json={"key_alias": "twin", "max_budget": 1})
    assert_oai(
        response,
        400,
        "Multiple keys share key_alias='twin', so it cannot be used as an identifier.",
        "bad_request_error",
        "key_alias",
    )


def test_it_turns_update_http_errors_into_auth_error_type(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    response = call(sim, "POST", "/key/update", json={"key": created["token"], "max_budget": -1})
    assert_oai(
        response,
        400,
        "{'error': 'max_budget must be a non-negative finite number. Received: -1.0'}",
        "auth_error",
        "None",
    )


def test_it_answers_an_invalid_duration_on_update_with_400(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    response = call(sim, "POST", "/key/update", json={"key": created["token"], "duration": "soon"})
    assert_oai(response, 400, "Authentication Error, Invalid duration format", "auth_error", "None")


def _listed(sim: LiteLLMSimulator, token: str) -> dict[str, Any]:
    body = call(sim, "GET", "/key/list", params={"return_full_object": "true", "key_hash": token}).json()
    row: dict[str, Any] = body["keys"][0]
    return row


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_it_stamps_last_active_only_when_the_key_is_used(sim: LiteLLMSimulator) -> None:
    # LiteLLM 1.106.2: the spend writer (db_spend_update_writer.py) sets last_active with the
    # spend; /key/update has no such field (UpdateKeyRequest, proxy/_types.py).
    created = generate(sim, max_budget=5)
    assert _listed(sim, created["token"])["last_active"] is None
    call(
        sim,
        "POST",
        "/key/update",
        json={"key": created["token"], "max_budget": 6, "last_active": "2030-01-01"},
    )
    assert _listed(sim, created["token"])["last_active"] is None
    assert chat(sim, created["key"]).status_code == 200
    used = _listed(sim, created["token"])["last_active"]
    assert used is not None
    info = call(sim, "GET", "/key/info", params={"key": created["token"]}).json()["info"]
    assert _when(info["last_active"]) == _when(used)  # /key/list writes Z, /key/info +00:00
    call(sim, "POST", "/key/update", json={"key": created["token"], "rpm_limit": 9})
    assert _listed(sim, created["token"])["last_active"] == used


def test_it_moves_updated_at_on_every_update_the_portals_own_included(sim: LiteLLMSimulator) -> None:
    # prisma @updatedAt on LiteLLM_VerificationToken (proxy/schema.prisma): any write moves it,
    # so it cannot tell use from the portal's own metadata refresh.
    created = generate(sim)
    before = _listed(sim, created["token"])["updated_at"]
    time.sleep(0.01)
    call(sim, "POST", "/key/update", json={"key": created["token"], "metadata": {"managed_by": "portal"}})
    assert _when(_listed(sim, created["token"])["updated_at"]) > _when(before)


# ---- /key/info (contract §2.3) ----------------------------------------------------------------


def test_it_returns_key_info_by_hash_without_the_token(sim: LiteLLMSimulator) -> None:
    created = generate(sim, key_alias="info-me")
    body = call(sim, "GET", "/key/info", params={"key": created["token"]}).json()
    assert body["key"] == created["token"]
    assert "token" not in body["info"]
    assert body["info"]["key_alias"] == "info-me"
    assert body["info"]["status"] == "active"
    assert body["info"]["created_at"].endswith("+00:00")


def test_it_returns_key_info_by_raw_key_and_echoes_it(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    body = call(sim, "GET", "/key/info", params={"key": created["key"]}).json()
    assert body["key"] == created["key"]
    assert body["info"]["key_name"] == created["key_name"]


def test_it_describes_the_callers_own_key_when_no_key_is_given(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    body = call(sim, "GET", "/key/info", key=created["key"]).json()
    assert body["key"] == created["token"]


def test_it_answers_404_for_an_unknown_key_info(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/info", params={"key": "0" * 64})
    assert_oai(response, 404, "Key not found in database", "not_found_error", "key")


@pytest.mark.parametrize(
    ("fields", "status"), [({"blocked": True}, "revoked"), ({"expires": past()}, "expired")]
)
def test_it_derives_the_key_status(sim: LiteLLMSimulator, fields: dict[str, Any], status: str) -> None:
    created = generate(sim)
    sim.update_key_fields(created["token"], **fields)
    info = call(sim, "GET", "/key/info", params={"key": created["token"]}).json()["info"]
    assert info["status"] == status


def test_it_serves_deleted_keys_from_the_archive(sim: LiteLLMSimulator) -> None:
    created = generate(sim, key_alias="gone")
    call(sim, "POST", "/key/delete", json={"keys": [created["token"]]})
    info = call(sim, "GET", "/key/info", params={"key": created["token"]}).json()["info"]
    assert info["status"] == "deleted"
    assert info["key_alias"] == "gone"
    assert info["deleted_by"] == "default_user_id"
    assert info["deleted_by_api_key"] == "litellm_proxy_master_key"


# ---- /key/list (contract §2.4) ----------------------------------------------------------------


def test_it_lists_hashes_newest_first_with_ceiling_page_math(sim: LiteLLMSimulator) -> None:
    raws = sim.seed_keys(25)
    body = call(sim, "GET", "/key/list", params={"page": 3, "size": 10}).json()
    assert body["total_count"] == 25
    assert body["current_page"] == 3
    assert body["total_pages"] == 3
    assert body["keys"] == [hash_token(r) for r in reversed(raws[:5])]


def test_it_defaults_to_page_one_of_ten(sim: LiteLLMSimulator) -> None:
    sim.seed_keys(12)
    body = call(sim, "GET", "/key/list").json()
    assert (len(body["keys"]), body["current_page"], body["total_pages"]) == (10, 1, 2)


@pytest.mark.parametrize(
    ("size", "error"),
    [
        (
            "0",
            {
                "type": "greater_than_equal",
                "loc": ["query", "size"],
                "msg": "Input should be greater than or equal to 1",
            },
        ),
        (
            "101",
            {
                "type": "less_than_equal",
                "loc": ["query", "size"],
                "msg": "Input should be less than or equal to 100",
            },
        ),
        (
            "x",
            {
                "type": "int_parsing",
                "loc": ["query", "size"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
            },
        ),
    ],
)
def test_it_rejects_a_page_size_outside_1_to_100(
    sim: LiteLLMSimulator, size: str, error: dict[str, Any]
) -> None:
    response = call(sim, "GET", "/key/list", params={"size": size})
    assert response.status_code == 422
    assert response.json() == {"detail": [error]}


def test_it_rejects_an_invalid_sort_column_with_400(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/list", params={"sort_by": "user_id"})
    assert_oai(
        response,
        400,
        "{'error': 'Invalid sort column. Must be one of: spend, max_budget, created_at, updated_at, token, key_alias'}",
        "internal_server_error",
        "None",
    )


def test_it_rejects_an_invalid_sort_order_with_400(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/list", params={"sort_by": "spend", "sort_order": "up"})
    assert_oai(
        response,
        400,
        "{'error': \"Invalid sort order. Must be 'asc' or 'desc'\"}",
        "internal_server_error",
        "None",
    )


def test_it_sorts_by_spend_ascending(sim: LiteLLMSimulator) -> None:
    cheap, dear, mid = sim.add_key(spend=1.0), sim.add_key(spend=9.0), sim.add_key(spend=5.0)
    body = call(sim, "GET", "/key/list", params={"sort_by": "spend", "sort_order": "asc"}).json()
    assert body["keys"] == [hash_token(cheap), hash_token(mid), hash_token(dear)]


def test_it_filters_by_exact_alias_and_by_substring(sim: LiteLLMSimulator) -> None:
    alpha = sim.add_key(key_alias="Alpha-1")
    sim.add_key(key_alias="beta")
    exact = call(sim, "GET", "/key/list", params={"key_alias": "alpha"}).json()
    assert exact["keys"] == []
    fuzzy = call(sim, "GET", "/key/list", params={"key_alias": "alpha", "substring_matching": "true"}).json()
    assert fuzzy["keys"] == [hash_token(alpha)]


def test_it_filters_by_user_team_and_key_hash(sim: LiteLLMSimulator) -> None:
    mine = sim.add_key(user_id="u1", team_id="t1")
    sim.add_key(user_id="u2", team_id="t1")
    assert call(sim, "GET", "/key/list", params={"user_id": "u1"}).json()["keys"] == [hash_token(mine)]
    assert call(sim, "GET", "/key/list", params={"team_id": "t1"}).json()["total_count"] == 2
    by_hash = call(sim, "GET", "/key/list", params={"key_hash": hash_token(mine)}).json()
    assert by_hash["keys"] == [hash_token(mine)]


def test_it_searches_the_token_or_the_alias(sim: LiteLLMSimulator) -> None:
    named = sim.add_key(key_alias="Search-Me")
    other = sim.add_key()
    assert call(sim, "GET", "/key/list", params={"search": "search"}).json()["keys"] == [hash_token(named)]
    assert call(sim, "GET", "/key/list", params={"search": hash_token(other)}).json()["keys"] == [
        hash_token(other)
    ]


def test_it_never_lists_dashboard_session_keys(sim: LiteLLMSimulator) -> None:
    sim.add_key(team_id="litellm-dashboard")
    visible = sim.add_key()
    body = call(sim, "GET", "/key/list").json()
    assert body["keys"] == [hash_token(visible)]
    assert body["total_count"] == 1


def test_it_returns_user_api_key_auth_objects_when_asked(sim: LiteLLMSimulator) -> None:
    generate(sim, key_alias="full", soft_budget=1)
    key = call(sim, "GET", "/key/list", params={"return_full_object": "true"}).json()["keys"][0]
    assert key["key_alias"] == "full"
    assert len(key["token"]) == 64
    assert "org_id" in key and "organization_id" not in key
    assert key["api_key"] is None and key["user_role"] is None
    assert "soft_budget" in key and key["team_models"] == []
    assert key["created_at"].endswith("Z")


@pytest.mark.parametrize("status", ["active", "revoked", "expired", "deleted"])
def test_it_filters_by_status(sim: LiteLLMSimulator, status: str) -> None:
    keys = {
        "active": sim.add_key(),
        "revoked": sim.add_key(blocked=True),
        "expired": sim.add_key(expires=past()),
        "deleted": sim.add_key(),
    }
    call(sim, "POST", "/key/delete", json={"keys": [keys["deleted"]]})
    body = call(sim, "GET", "/key/list", params={"status": status}).json()
    assert body["keys"] == [hash_token(keys[status])]


def test_it_rejects_an_unknown_status_filter(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/key/list", params={"status": "sleeping"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "{'error': \"Invalid status value. Supported: 'active', 'expired', 'revoked', 'deleted'.\"}"
    )


def test_it_pages_through_10000_keys_in_milliseconds(sim: LiteLLMSimulator) -> None:
    sim.seed_keys(10_000, key_alias="bulk-{i}")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {MASTER}"
    first = session.get(f"{sim.base_url}/key/list", params={"page": 1, "size": 100}, timeout=5).json()
    assert first["total_count"] == 10_000 and first["total_pages"] == 100
    timings = []
    for page in (2, 50, 100):
        started = time.perf_counter()
        body = session.get(f"{sim.base_url}/key/list", params={"page": page, "size": 100}, timeout=5).json()
        timings.append(time.perf_counter() - started)
        assert len(body["keys"]) == 100
    started = time.perf_counter()
    filtered = session.get(f"{sim.base_url}/key/list", params={"key_alias": "bulk-9999"}, timeout=5).json()
    timings.append(time.perf_counter() - started)
    assert filtered["total_count"] == 1
    assert max(timings) < 0.1, timings


# ---- /key/delete (contract §2.5) --------------------------------------------------------------


def test_it_requires_keys_or_aliases_on_delete(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/delete", json={"keys": []})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body"],
                "msg": "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
            }
        ]
    }


def test_it_answers_404_when_no_key_matches_on_delete(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/delete", json={"keys": ["sk-not-a-real-key-0000"]})
    assert_oai(response, 404, "{'error': 'No keys found'}", "internal_server_error", None)


def test_it_deletes_the_keys_found_and_echoes_the_input(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    sent = [created["key"], "sk-not-a-real-key-0000"]
    response = call(sim, "POST", "/key/delete", json={"keys": sent})
    assert response.status_code == 200
    assert response.json() == {"deleted_keys": sent}
    assert sim.get_key(created["token"]) is None


def test_it_deletes_by_alias(sim: LiteLLMSimulator) -> None:
    created = generate(sim, key_alias="bye")
    response = call(sim, "POST", "/key/delete", json={"key_aliases": ["bye"]})
    assert response.json() == {"deleted_keys": ["bye"]}
    assert sim.get_key(created["token"]) is None
    assert sim.get_deleted_key(created["token"]) is not None


# ---- /key/block, /key/unblock (contract §2.6) -------------------------------------------------


def test_it_rejects_a_malformed_key_on_block(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/block", json={"key": "not a key!"})
    assert_oai(response, 400, "Invalid key format.", "bad_request_error", "key")


def test_it_answers_404_for_an_unknown_key_on_block(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/key/block", json={"key": "0" * 64})
    assert_oai(response, 404, "Key not found.", "not_found_error", "key")


def test_it_blocks_and_returns_the_verification_token_view(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    body = call(sim, "POST", "/key/block", json={"key": created["key"]}).json()
    assert body["blocked"] is True
    assert body["token"] == created["token"]
    assert body["org_id"] is None and "organization_id" not in body
    assert chat(sim, created["key"]).status_code == 401


def test_it_unblocks_and_returns_the_raw_row(sim: LiteLLMSimulator) -> None:
    created = generate(sim, blocked=True)
    body = call(sim, "POST", "/key/unblock", json={"key": created["token"]}).json()
    assert body["blocked"] is False
    assert "organization_id" in body and "org_id" not in body
    assert chat(sim, created["key"]).status_code == 200


def test_it_answers_a_non_admin_block_with_e_detail(sim: LiteLLMSimulator) -> None:
    sim.add_user("carol", user_role="internal_user")
    caller = generate(sim, user_id="carol")["key"]
    target = generate(sim)
    response = call(sim, "POST", "/key/block", key=caller, json={"key": target["token"]})
    assert response.status_code == 403
    assert response.json() == {
        "detail": {
            "error": "Only proxy admins, team admins, or org admins can call /key/block. "
            "user_role=internal_user, user_id=carol"
        }
    }


# ---- /key/regenerate (contract §2.7) ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/key/regenerate", "/key/sk-does-not-exist-000/regenerate"])
def test_it_refuses_regeneration_without_premium_before_any_lookup(sim: LiteLLMSimulator, path: str) -> None:
    response = call(sim, "POST", path, json={"key": "sk-does-not-exist-000"})
    assert_oai(
        response,
        500,
        f"Regenerating Virtual Keys is an Enterprise feature, {NOT_PREMIUM}",
        "internal_server_error",
        None,
    )


def test_it_regenerates_a_key_when_premium(sim: LiteLLMSimulator) -> None:
    sim.configure(premium=True)
    created = generate(sim, key_alias="rotate-me", max_budget=3)
    response = call(sim, "POST", f"/key/{created['token']}/regenerate", json={})
    assert response.status_code == 200
    body = response.json()
    assert body["key"] != created["key"]
    assert body["token"] is None
    assert body["token_id"] == hash_token(body["key"])
    assert body["key_name"] == f"sk-...{body['key'][-4:]}"
    assert body["key_alias"] == "rotate-me" and body["max_budget"] == 3.0
    assert chat(sim, body["key"]).status_code == 200
    assert chat(sim, created["key"]).status_code == 401
    old = call(sim, "GET", "/key/info", params={"key": created["token"]}).json()["info"]
    assert old["status"] == "deleted"


def test_it_answers_404_for_an_unknown_key_on_regenerate(sim: LiteLLMSimulator) -> None:
    sim.configure(premium=True)
    response = call(sim, "POST", "/key/regenerate", json={"key": "sk-does-not-exist-000"})
    assert_oai(
        response, 404, "{'error': 'Key sk-does-not-exist-000 not found.'}", "internal_server_error", None
    )


def test_it_keeps_the_old_key_valid_during_the_grace_period(sim: LiteLLMSimulator) -> None:
    sim.configure(premium=True)
    created = generate(sim)
    body = call(sim, "POST", "/key/regenerate", json={"key": created["key"], "grace_period": "1h"}).json()
    assert chat(sim, created["key"]).status_code == 200
    assert chat(sim, body["key"]).status_code == 200


# ---- /key/health (contract §2.8) --------------------------------------------------------------


def test_it_reports_a_healthy_key(sim: LiteLLMSimulator) -> None:
    key = generate(sim)["key"]
    response = call(sim, "POST", "/key/health", key=key)
    assert response.json() == {"key": "healthy", "logging_callbacks": None}


# ---- model endpoints (contract §3) ------------------------------------------------------------


def test_it_lists_every_model_for_a_key_without_restrictions(sim: LiteLLMSimulator) -> None:
    key = generate(sim)["key"]
    body = call(sim, "GET", "/v1/models", key=key).json()
    assert body == {
        "data": [
            {"id": "gpt-4o-mock", "object": "model", "created": 1677610602, "owned_by": "openai"},
            {"id": "claude-mock", "object": "model", "created": 1677610602, "owned_by": "openai"},
        ],
        "object": "list",
    }


def test_it_lists_only_the_keys_models(sim: LiteLLMSimulator) -> None:
    key = generate(sim, models=["claude-mock"])["key"]
    ids = [m["id"] for m in call(sim, "GET", "/models", key=key).json()["data"]]
    assert ids == ["claude-mock"]


def test_it_rejects_a_bad_scope_on_models_with_e_detail(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/v1/models", params={"scope": "bad"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid scope parameter. Only 'expand' is currently supported. Received: bad"
    }


def test_it_removes_secrets_from_model_info(sim: LiteLLMSimulator) -> None:
    body = call(sim, "GET", "/model/info").json()
    first = body["data"][0]
    assert first["model_name"] == "gpt-4o-mock"
    assert "api_key" not in first["litellm_params"]
    assert first["litellm_params"]["model"] == "openai/gpt-4o"
    assert first["model_info"]["id"] == "2c7259c4abc0351c0fbd33dcd5f041f8bd6ef081ced5330978338572930cf9d4"
    assert first["model_info"]["db_model"] is False


def test_it_filters_model_info_to_the_keys_models(sim: LiteLLMSimulator) -> None:
    key = generate(sim, models=["claude-mock"])["key"]
    names = [m["model_name"] for m in call(sim, "GET", "/v1/model/info", key=key).json()["data"]]
    assert names == ["claude-mock"]


def test_it_answers_e_detail_400_for_an_unknown_model_id(sim: LiteLLMSimulator) -> None:
    response = call(sim, "GET", "/model/info", params={"litellm_model_id": "zzz"})
    assert response.status_code == 400
    assert response.json() == {"detail": {"error": "Model id = zzz not found on litellm proxy"}}


def test_it_refuses_model_new_without_store_model_in_db(sim: LiteLLMSimulator) -> None:
    response = call(
        sim, "POST", "/model/new", json={"model_name": "m", "litellm_params": {"model": "openai/x"}}
    )
    assert_oai(
        response,
        500,
        "{'error': \"Set `'STORE_MODEL_IN_DB='True'` in your env to enable this feature.\"}",
        "auth_error",
        "None",
    )


def test_it_adds_a_db_model_with_a_uuid_when_store_model_in_db(sim: LiteLLMSimulator) -> None:
    sim.configure(store_model_in_db=True)
    response = call(
        sim,
        "POST",
        "/model/new",
        json={
            "model_name": "db-model",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-secret-provider-key"},
        },
    )
    assert response.status_code == 200
    row = response.json()
    assert set(row) == {
        "model_id",
        "model_name",
        "litellm_params",
        "model_info",
        "blocked",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    assert len(row["model_id"]) == 36 and row["model_info"]["id"] == row["model_id"]
    assert row["litellm_params"]["api_key"] != "sk-secret-provider-key"  # encrypted
    info = call(sim, "GET", "/model/info", params={"litellm_model_id": row["model_id"]}).json()["data"][0]
    assert info["model_info"]["db_model"] is True
    assert "api_key" not in info["litellm_params"]
    assert "db-model" in [m["id"] for m in call(sim, "GET", "/v1/models").json()["data"]]


def test_it_answers_a_missing_model_name_on_model_new_with_the_bare_500(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/model/new", json={"litellm_params": {"model": "openai/x"}})
    assert response.status_code == 500
    assert response.json()["error"] == {"message": "Internal server error", "type": "internal_server_error"}


def test_it_checks_a_model_exists_before_store_model_in_db_on_delete(sim: LiteLLMSimulator) -> None:
    response = call(sim, "POST", "/model/delete", json={"id": "nope"})
    assert_oai(response, 400, "{'error': 'Model with id=nope not found in db'}", "auth_error", "None")


def test_it_deletes_a_db_model(sim: LiteLLMSimulator) -> None:
    sim.configure(store_model_in_db=True)
    model_id = call(
        sim, "POST", "/model/new", json={"model_name": "tmp", "litellm_params": {"model": "openai/x"}}
    ).json()["model_id"]
    response = call(sim, "POST", "/model/delete", json={"id": model_id})
    assert response.json() == {"message": f"Model: {model_id} deleted successfully"}


def test_it_refuses_model_patch_without_store_model_in_db(sim: LiteLLMSimulator) -> None:
    response = call(sim, "PATCH", "/model/abc/update", json={})
    assert_oai(response, 400, "Model updates only supported for DB-stored models", "validation_error", None)


def test_it_refuses_to_patch_a_config_model(sim: LiteLLMSimulator) -> None:
    sim.configure(store_model_in_db=True)
    config_id = "2c7259c4abc0351c0fbd33dcd5f041f8bd6ef081ced5330978338572930cf9d4"
    response = call(sim, "PATCH", f"/model/{config_id}/update", json={"model_name": "x"})
    assert_oai(
        response,
        400,
        "Cannot edit config-based model. Store model in DB via /model/new first.",
        "validation_error",
        None,
    )


def test_it_answers_404_for_patching_an_unknown_model(sim: LiteLLMSimulator) -> None:
    sim.configure(store_model_in_db=True)
    response = call(sim, "PATCH", "/model/ghost/update", json={})
    assert_oai(response, 404, "Model ghost not found on proxy.", "not_found_error", None)


def test_it_patches_a_db_model(sim: LiteLLMSimulator) -> None:
    sim.configure(store_model_in_db=True)
    model_id = call(
        sim, "POST", "/model/new", json={"model_name": "old", "litellm_params": {"model": "openai/x"}}
    ).json()["model_id"]
    body = call(sim, "PATCH", f"/model/{model_id}/update", json={"model_name": "new"}).json()
    assert body["model_name"] == "new"
    assert body["model_id"] == model_id


# ---- /v1/chat/completions (contract §5) -------------------------------------------------------


def test_it_answers_chat_with_a_mock_completion_and_adds_spend(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    response = chat(sim, created["key"])
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"content": "Hello from mock gpt-4o", "role": "assistant"}
    assert body["usage"] == {"completion_tokens": 20, "prompt_tokens": 10, "total_tokens": 30}
    assert sim.get_key(created["token"])["spend"] > 0  # type: ignore[index]


def test_it_streams_chat_chunks_as_server_sent_events(sim: LiteLLMSimulator) -> None:
    response = call(
        sim, "POST", "/chat/completions", json={"model": "claude-mock", "messages": [], "stream": True}
    )
    lines = [line for line in response.text.splitlines() if line]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][len("data: ") :])["object"] == "chat.completion.chunk"


def test_it_denies_a_model_outside_the_keys_models(sim: LiteLLMSimulator) -> None:
    key = generate(sim, models=["claude-mock"])["key"]
    assert_oai(
        chat(sim, key, model="gpt-4o-mock"),
        403,
        "The requested model 'gpt-4o-mock' is not available for this API key, or the model name is invalid. "
        "Check the models available to you and try again.",
        "key_model_access_denied",
        "model",
    )


def test_it_answers_422_budget_exceeded_when_spend_reaches_max_budget(sim: LiteLLMSimulator) -> None:
    created = generate(sim, key_alias="capped", max_budget=5)
    sim.set_spend(created["token"], 5)
    assert_oai(
        chat(sim, created["key"]),
        422,
        f"Budget has been exceeded! Key=capped ({created['key_name']}) Current cost: 5.0, Max budget: 5.0",
        "budget_exceeded",
        None,
    )


def test_it_blocks_a_zero_budget_key_immediately_also_on_models(sim: LiteLLMSimulator) -> None:
    key = generate(sim, max_budget=0)["key"]
    assert call(sim, "GET", "/v1/models", key=key).status_code == 422
    assert call(sim, "GET", "/model/info", key=key).status_code == 422
    assert chat(sim, key).status_code == 422


def test_it_stops_a_key_after_its_budget_is_spent(sim: LiteLLMSimulator) -> None:
    sim.configure(spend_per_call=0.5)
    key = generate(sim, max_budget=1)["key"]
    assert [chat(sim, key).status_code for _ in range(3)] == [200, 200, 422]


def test_it_checks_blocked_before_model_access(sim: LiteLLMSimulator) -> None:
    key = generate(sim, models=["claude-mock"], blocked=True)["key"]
    assert (
        chat(sim, key, model="gpt-4o-mock")
        .json()["error"]["message"]
        .startswith("Authentication Error, Key is blocked")
    )


def test_it_checks_model_access_before_expiry(sim: LiteLLMSimulator) -> None:
    created = generate(sim, models=["claude-mock"])
    sim.update_key_fields(created["token"], expires=past())
    assert chat(sim, created["key"], model="gpt-4o-mock").status_code == 403


def test_it_checks_expiry_before_budget(sim: LiteLLMSimulator) -> None:
    created = generate(sim, max_budget=0)
    sim.update_key_fields(created["token"], expires=past())
    assert chat(sim, created["key"]).json()["error"]["type"] == "expired_key"


def test_it_rate_limits_requests_per_minute_with_429(sim: LiteLLMSimulator) -> None:
    created = generate(sim, rpm_limit=1)
    assert chat(sim, created["key"]).status_code == 200
    response = chat(sim, created["key"])
    assert response.status_code == 429
    assert response.headers["retry-after"] == "60"
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("throttling_error", None, "429")
    assert error["message"].startswith(
        f"Rate limit exceeded for api_key: {created['token']}. Limit type: requests. Current limit: 1, Remaining: 0. "
        "Limit resets at: "
    )
    assert error["message"].endswith(" UTC")


def test_it_rate_limits_tokens_per_minute(sim: LiteLLMSimulator) -> None:
    key = generate(sim, tpm_limit=30)["key"]
    assert chat(sim, key).status_code == 200
    assert "Limit type: tokens" in chat(sim, key).json()["error"]["message"]


def test_it_answers_invalid_json_on_chat_with_400(sim: LiteLLMSimulator) -> None:
    response = call(
        sim, "POST", "/v1/chat/completions", data="{bad", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("Invalid JSON payload: ")
    assert (error["type"], error["param"]) == ("invalid_request_error", "request_body")


def test_it_answers_an_unknown_model_on_chat_with_400(sim: LiteLLMSimulator) -> None:
    response = chat(sim, MASTER, model="nope")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == (
        "/chat/completions: Invalid model name passed in model=nope. Call `/v1/models` to view available models for your key."
    )


# ---- faults, counters, lifecycle --------------------------------------------------------------


def test_it_delays_answers_by_the_latency_knob(sim: LiteLLMSimulator) -> None:
    sim.set_faults(latency=0.3)
    started = time.perf_counter()
    assert call(sim, "GET", "/health/liveliness", key=None).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_it_answers_the_bare_500_at_error_rate_one(sim: LiteLLMSimulator) -> None:
    sim.set_faults(error_rate=1.0)
    response = call(sim, "POST", "/key/generate", json={})
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "Internal server error", "type": "internal_server_error"}}
    assert sim.key_count() == 0


def test_it_forces_a_status_with_status_override(sim: LiteLLMSimulator) -> None:
    sim.set_faults(status_override=503)
    assert call(sim, "GET", "/health/readiness", key=None).status_code == 503
    assert call(sim, "GET", "/key/list").status_code == 503


def test_it_hangs_until_the_client_gives_up(sim: LiteLLMSimulator) -> None:
    sim.set_faults(hang_rate=1.0, hang_max_seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sim, "GET", "/key/list", timeout=0.3)


def test_it_loses_the_answer_after_performing_the_write(sim: LiteLLMSimulator) -> None:
    sim.set_faults(lose_answer_after_write=1)
    custom = "sk-lost-answer-key-0001"
    with pytest.raises(requests.exceptions.ConnectionError):
        call(sim, "POST", "/key/generate", json={"key": custom})
    assert sim.get_key(custom) is not None
    assert call(sim, "GET", "/key/info", params={"key": custom}).status_code == 200


def test_it_refuses_connections_when_stopped_and_returns_on_the_same_port(sim: LiteLLMSimulator) -> None:
    created = generate(sim)
    port = sim.port
    sim.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        call(sim, "GET", "/health/liveliness", key=None, timeout=1)
    sim.start()
    assert sim.port == port
    assert call(sim, "GET", "/key/info", params={"key": created["token"]}).status_code == 200


def test_it_counts_calls_by_method_and_path_without_query(sim: LiteLLMSimulator) -> None:
    call(sim, "GET", "/key/list", params={"page": 1})
    call(sim, "GET", "/key/list")
    call(sim, "POST", "/key/generate", json={})
    assert sim.calls[("GET", "/key/list")] == 2
    assert sim.calls[("POST", "/key/generate")] == 1
    sim.reset_calls()
    assert sum(sim.calls.values()) == 0


def test_it_draws_faults_repeatably_from_the_seed() -> None:
    outcomes = []
    for _ in range(2):
        with LiteLLMSimulator(master_key=MASTER, seed=42) as sim:
            sim.set_faults(error_rate=0.5)
            outcomes.append([call(sim, "GET", "/health/liveliness", key=None).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}


def test_it_runs_as_a_process_driven_through_the_control_api() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.simulators.litellm", "--port", str(port), "--master-key", MASTER],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"READY http://127.0.0.1:{port}"
        base = line.split(" ", 1)[1]
        auth = {"Authorization": f"Bearer {MASTER}"}
        assert requests.post(f"{base}/_sim/faults", json={"latency": 0}, timeout=5).status_code == 401
        seeded = requests.post(f"{base}/_sim/seed_keys", headers=auth, json={"n": 3}, timeout=5).json()
        assert len(seeded["keys"]) == 3
        requests.post(f"{base}/_sim/faults", headers=auth, json={"status_override": 503}, timeout=5)
        assert requests.get(f"{base}/key/list", headers=auth, timeout=5).status_code == 503
        state = requests.get(f"{base}/_sim/state", headers=auth, timeout=5).json()
        assert state["keys"] == 3 and state["faults"]["status_override"] == 503
        assert state["calls"] == [{"method": "GET", "path": "/key/list", "count": 1}]
        requests.post(f"{base}/_sim/reset", headers=auth, timeout=5)
        assert requests.get(f"{base}/key/list", headers=auth, timeout=5).json()["total_count"] == 0
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_it_exposes_fault_knobs_as_attributes(sim: LiteLLMSimulator) -> None:
    sim.status_override = 502
    assert sim.faults.status_override == 502
    assert call(sim, "GET", "/v1/models").status_code == 502
    sim.status_override = None
    assert call(sim, "GET", "/v1/models").status_code == 200
