"""Both vendor clients fed garbage over a real socket: random bytes, truncated JSON, JSON of the
wrong shape or types, any status code, bodies cut short. Every call either returns a parsed
object or raises the VendorError family with a readable sentence; nothing else escapes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.http import VendorError
from integrations.librechat.client import LibreChatClient
from integrations.litellm.client import LiteLLMClient, generate_raw_key, hash_token
from tests.badinput.garbage_server import CannedAnswer, GarbageServer

# BADINPUT_EXAMPLES=2000 for a longer hunt; the suite keeps it short.
EXAMPLES = int(os.environ.get("BADINPUT_EXAMPLES", "60"))
HASH = hash_token("sk-some-key-0123456789")
STATUSES = [200, 201, 204, 302, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Field names the clients look for, so wrong types land where the parsers read.
KNOWN_FIELDS = [
    "key",
    "token",
    "info",
    "keys",
    "data",
    "user",
    "token_hash",
    "key_alias",
    "spend",
    "max_budget",
    "expires",
    "blocked",
    "models",
    "metadata",
    "created_at",
    "model_name",
    "model_info",
    "id",
    "litellm_params",
    "healthy_endpoints",
    "unhealthy_endpoints",
    "status",
    "db",
    "deleted_keys",
    "email",
    "name",
    "_id",
    "role",
    "detail",
    "error",
    "message",
    "total_count",
    "current_page",
    "total_pages",
    "refreshToken",
    "expiresAt",
    "link",
    "registrationEnabled",
    "emailLoginEnabled",
]
shaped_objects = st.dictionaries(st.sampled_from(KNOWN_FIELDS), json_values, max_size=8)
nested_objects = st.dictionaries(
    st.sampled_from(["info", "user", "data", "keys", "error"]),
    shaped_objects | st.lists(shaped_objects, max_size=3),
    max_size=3,
)


@st.composite
def answers(draw: st.DrawFn) -> CannedAnswer:
    value = draw(json_values | shaped_objects | nested_objects)
    text = json.dumps(value, allow_nan=True).encode()
    body = draw(
        st.one_of(
            st.just(text),
            st.binary(max_size=200),
            st.integers(0, max(0, len(text) - 1)).map(lambda cut: text[:cut]),  # truncated JSON
            st.sampled_from([b"", b"null", b"NaN", b"[]", b'"ok"', b"<html>502 Bad Gateway</html>"]),
        )
    )
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/html", "text/plain"]))}
    status = draw(st.sampled_from(STATUSES))
    if status == 302:
        headers["Location"] = "/somewhere-else"
    if status in (429, 503):
        headers["Retry-After"] = draw(
            st.sampled_from(["1", "soon", "-5", "1e309", "Wed, 21 Oct 2015 07:28:00 GMT"])
        )
    short_by = draw(st.sampled_from([0, 0, 0, 1, 7])) if body else 0
    return CannedAnswer(status=status, body=body, headers=headers, short_by=short_by)


@pytest.fixture(scope="module")
def garbage() -> Iterator[GarbageServer]:
    with GarbageServer() as server:
        yield server


def litellm_calls(client: LiteLLMClient) -> list[Callable[[], Any]]:
    return [
        client.liveliness,
        client.readiness,
        client.health_check_models,
        client.model_names,
        client.model_info,
        lambda: client.model_new(model_name="m", litellm_params={"model": "openai/gpt-4o"}),
        lambda: client.model_delete(model_id="m1"),
        lambda: client.key_generate(raw_key=generate_raw_key(), fields={"key_alias": "a"}),
        lambda: client.key_update(token_hash=HASH, fields={"max_budget": 1}),
        lambda: client.key_info(token_hash=HASH),
        lambda: client.key_find(token_hash=HASH),
        client.key_list,
        lambda: client.key_delete(token_hashes=[HASH]),
        lambda: client.key_block(token_hash=HASH),
        lambda: client.key_regenerate(token_hash=HASH, new_raw_key=generate_raw_key()),
    ]


def librechat_calls(client: LibreChatClient) -> list[Callable[[], Any]]:
    return [
        client.health,
        client.config,
        lambda: client.register(name="Ann", email="ann@example.com", password="p" * 20),
        lambda: client.login(email="ann@example.com", password="p" * 20),
        lambda: client.refresh(refresh_token="r"),
        lambda: client.logout(access_token="a", refresh_token="r"),
        lambda: client.current_user(access_token="a"),
        lambda: client.password_reset_request(email="ann@example.com"),
        lambda: client.user_key_put(access_token="a", name="LiteLLM", value="sk-x", expires_at=None),
        lambda: client.user_key_expiry(access_token="a", name="LiteLLM"),
        lambda: client.user_key_delete(access_token="a", name="LiteLLM"),
        lambda: client.account_delete(access_token="a"),
    ]


def assert_clear_failure_or_result(call: Callable[[], Any]) -> None:
    try:
        call()
    except VendorError as error:
        message = str(error)
        assert message.strip() and len(message) < 2000, message
        assert "Traceback" not in message
    # Anything else (KeyError, TypeError, AttributeError, ValueError...) fails the test.


SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(answer=answers(), which=st.integers(0, 14))
def test_the_litellm_client_turns_garbage_into_vendor_errors(
    garbage: GarbageServer, answer: CannedAnswer, which: int
) -> None:
    garbage.answer = answer
    with LiteLLMClient(
        base_url=garbage.base_url, master_key="sk-master-0123456789", read_timeout=2
    ) as client:
        assert_clear_failure_or_result(litellm_calls(client)[which])


@SETTINGS
@given(answer=answers(), which=st.integers(0, 11))
def test_the_librechat_client_turns_garbage_into_vendor_errors(
    garbage: GarbageServer, answer: CannedAnswer, which: int
) -> None:
    garbage.answer = answer
    client = LibreChatClient(base_url=garbage.base_url)
    assert_clear_failure_or_result(librechat_calls(client)[which])


@pytest.mark.parametrize("vendor", ["litellm", "librechat"])
def test_it_refuses_a_huge_body_with_a_clear_error(garbage: GarbageServer, vendor: str) -> None:
    garbage.answer = CannedAnswer(body=b'{"data": [' + b'"x",' * 6_000_000 + b'"x"]}')  # ~24 MB
    if vendor == "litellm":
        with (
            LiteLLMClient(base_url=garbage.base_url, master_key="sk-master-0123456789") as client,
            pytest.raises(VendorError) as caught,
        ):
            client.model_names()
    else:
        with pytest.raises(VendorError) as caught:
            LibreChatClient(base_url=garbage.base_url).config()
    assert "large" in str(caught.value).lower() or "MB" in str(caught.value)
