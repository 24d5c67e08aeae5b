"""integrations/litellm/client.py against the contract simulator over a real socket.

Each quirk names its section of contracts/litellm.md.
"""

from __future__ import annotations

import pytest

from integrations.http import ErrorKind, VendorHTTPError, VendorTimeout, VendorUnreachable
from integrations.litellm.client import (
    KeyNotFound,
    LiteLLMClient,
    RegenerateRefused,
    generate_raw_key,
    hash_token,
    normalise_base_url,
)
from tests.litellm.conftest import MASTER, stored_key
from tests.simulators.litellm import LiteLLMSimulator


@pytest.fixture
def client(sim: LiteLLMSimulator) -> LiteLLMClient:
    return LiteLLMClient(base_url=sim.base_url + "/v1/", master_key=MASTER, read_timeout=2)


def test_it_normalises_the_base_url_with_or_without_v1() -> None:
    assert normalise_base_url("http://litellm:4000/v1") == "http://litellm:4000"
    assert normalise_base_url("http://litellm:4000/v1/") == "http://litellm:4000"
    assert normalise_base_url("http://litellm:4000") == "http://litellm:4000"
    assert normalise_base_url("https://gw.example.com/llm/v1") == "https://gw.example.com/llm"
    assert normalise_base_url("litellm:4000") == "http://litellm:4000"
    with pytest.raises(ValueError):
        normalise_base_url("ftp://x")


def test_it_generates_long_portal_keys() -> None:
    raw = generate_raw_key()
    assert raw.startswith("sk-") and len(raw) >= 3 + 32


def test_it_creates_a_key_with_its_own_raw_key_and_gets_the_hash_back(
    client: LiteLLMClient, sim: LiteLLMSimulator
) -> None:
    raw = generate_raw_key()
    generated = client.key_generate(
        raw_key=raw,
        fields={
            "key_alias": "ci",
            "models": ["gpt-4o-mock"],
            "max_budget": 5.0,
            "metadata": {"managed_by": "portal"},
        },
    )
    # §2.1: token / token_id are the sha256 of the raw key; key_name is "sk-..." + last 4.
    assert generated.info.token == hash_token(raw)
    assert generated.info.key_name == f"sk-...{raw[-4:]}"
    assert generated.info.max_budget == 5.0
    assert stored_key(sim, raw)["metadata"] == {"managed_by": "portal"}


def test_it_looks_keys_up_by_hash_and_refuses_a_raw_key(client: LiteLLMClient, sim: LiteLLMSimulator) -> None:
    raw = sim.add_key(key_alias="found", max_budget=2.5)
    info = client.key_info(token_hash=hash_token(raw))
    assert info.key_alias == "found" and info.status == "active"
    with pytest.raises(ValueError):
        client.key_info(token_hash=raw)  # a raw key never goes into a URL (§1)
    assert client.key_find(token_hash="0" * 64) is None


def test_it_carries_litellms_own_message_for_a_duplicate_alias(
    client: LiteLLMClient, sim: LiteLLMSimulator
) -> None:
    sim.add_key(key_alias="taken")
    with pytest.raises(VendorHTTPError) as caught:
        client.key_generate(raw_key=generate_raw_key(), fields={"key_alias": "taken"})
    # §1 _enforce_unique_key_alias: E-OAI 400, not worth retrying.
    assert caught.value.status == 400 and not caught.value.retryable
    assert "Key with alias 'taken' already exists" in caught.value.vendor_message
    assert "Key with alias 'taken' already exists" in str(caught.value)


def test_it_reads_the_validation_envelope(client: LiteLLMClient) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        client.key_generate(raw_key=generate_raw_key(), fields={"max_budget": -1})
    assert caught.value.status == 400
    assert "max_budget must be a non-negative finite number" in caught.value.vendor_message


def test_it_marks_the_invalid_duration_500_as_permanent(client: LiteLLMClient) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        client.key_generate(raw_key=generate_raw_key(), fields={"duration": "fortnight"})
    # §2.1: an invalid duration is a 500 "Invalid duration format"; retrying cannot help.
    assert caught.value.status == 500 and caught.value.retryable is False


def test_it_pages_the_key_list_in_creation_order(client: LiteLLMClient, sim: LiteLLMSimulator) -> None:
    raws = sim.seed_keys(25, key_alias="bulk-{i}")
    first = client.key_list(page=1, size=10)
    assert (first.total_count, first.total_pages) == (25, 3)
    seen = [k.token for p in (1, 2, 3) for k in client.key_list(page=p, size=10).keys]
    assert seen == [hash_token(r) for r in raws]  # created_at ascending, nothing twice


def test_it_blocks_unblocks_updates_and_deletes_by_hash(client: LiteLLMClient, sim: LiteLLMSimulator) -> None:
    raw = sim.add_key(key_alias="b")
    token = hash_token(raw)
    assert client.key_block(token_hash=token).blocked is True
    assert client.key_unblock(token_hash=token).blocked is False
    updated = client.key_update(
        token_hash=token, fields={"rpm_limit": 7, "metadata": {"managed_by": "portal"}}
    )
    assert updated.rpm_limit == 7 and updated.metadata == {"managed_by": "portal"}
    assert client.key_delete(token_hashes=[token]) == [token]
    assert client.key_find(token_hash=token) is None
    with pytest.raises(KeyNotFound):  # §2.5: 404 "No keys found"
        client.key_delete(token_hashes=[token])
    with pytest.raises(KeyNotFound):  # §2.6: E-OAI 404 "Key not found."
        client.key_block(token_hash=token)


def test_it_recognises_the_open_source_regenerate_refusal(
    client: LiteLLMClient, sim: LiteLLMSimulator
) -> None:
    raw = sim.add_key()
    with pytest.raises(RegenerateRefused) as caught:
        client.key_regenerate(token_hash=hash_token(raw), new_raw_key=generate_raw_key())
    # §2.7: 500 "Regenerating Virtual Keys is an Enterprise feature", before the lookup.
    assert caught.value.retryable is False and "Enterprise" in caught.value.vendor_message


def test_it_keeps_the_master_key_out_of_errors(sim: LiteLLMSimulator) -> None:
    wrong = "sk-wrong-master-key-that-must-not-leak-123"
    client = LiteLLMClient(base_url=sim.base_url, master_key=wrong)
    with pytest.raises(VendorHTTPError) as caught:
        client.key_list()
    assert caught.value.status == 401 and not caught.value.retryable
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert wrong not in caught.value.vendor_message
    assert "Authentication Error" in caught.value.vendor_message
    assert wrong not in repr(client)


def test_it_treats_a_bare_500_as_worth_retrying(client: LiteLLMClient, sim: LiteLLMSimulator) -> None:
    sim.set_faults(error_rate=1.0)
    with pytest.raises(VendorHTTPError) as caught:
        client.model_names()
    assert caught.value.status == 500 and caught.value.retryable is True


def test_it_times_out_on_a_slow_proxy(sim: LiteLLMSimulator) -> None:
    client = LiteLLMClient(base_url=sim.base_url, master_key=MASTER, read_timeout=0.3)
    sim.set_faults(latency=1.0)
    with pytest.raises(VendorTimeout) as caught:
        client.liveliness()
    # The HTTP layer retries an idempotent GET once, and still calls the outcome a timeout.
    assert caught.value.retryable and caught.value.kind == ErrorKind.READ_TIMEOUT
    assert "sent no answer within 0.3 s" in str(caught.value)


def test_it_says_when_nothing_listens(unused_tcp_port: int) -> None:
    client = LiteLLMClient(base_url=f"http://127.0.0.1:{unused_tcp_port}", master_key=MASTER)
    with pytest.raises(VendorUnreachable) as caught:
        client.liveliness()
    assert caught.value.kind == ErrorKind.REFUSED


def test_it_reads_models_and_model_info(client: LiteLLMClient) -> None:
    assert client.model_names() == ["gpt-4o-mock", "claude-mock"]
    infos = client.model_info()
    assert {m.model_name for m in infos} == {"gpt-4o-mock", "claude-mock"}
    assert all(not m.db_model and m.model_id for m in infos)
    assert {m.provider_model for m in infos} == {"openai/gpt-4o", "anthropic/claude-3-5-sonnet-20240620"}


def test_it_adds_and_deletes_database_models_only_when_the_proxy_stores_them(
    client: LiteLLMClient, sim: LiteLLMSimulator
) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        client.model_new(model_name="m", litellm_params={"model": "openai/gpt-4o-mini"})
    # §3.3: STORE_MODEL_IN_DB unset is a permanent 500.
    assert caught.value.status == 500 and not caught.value.retryable
    assert "STORE_MODEL_IN_DB" in caught.value.vendor_message
    sim.configure(store_model_in_db=True)
    model_id = client.model_new(
        model_name="m", litellm_params={"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"}
    )
    assert any(m.model_id == model_id and m.db_model for m in client.model_info())
    client.model_delete(model_id=model_id)
    with pytest.raises(VendorHTTPError) as caught:  # §3.4: unknown id, 400
        client.model_delete(model_id=model_id)
    assert caught.value.status == 400


def test_it_reads_the_version_from_the_readiness_details(client: LiteLLMClient) -> None:
    readiness = client.readiness()
    assert readiness.litellm_version == "1.106.2" and readiness.status == "healthy"


def test_it_lists_healthy_endpoints_only_on_demand(client: LiteLLMClient, sim: LiteLLMSimulator) -> None:
    report = client.health_check_models()
    assert len(report.healthy) == 2 and report.unhealthy == []
    assert sim.calls[("GET", "/health")] == 1
