"""The client and "Test connection" against the REAL LiteLLM proxy (litellm[proxy]==1.106.2),
for everything it serves without a database: health, models, model info, errors."""

from __future__ import annotations

import pytest

from integrations.http import VendorHTTPError
from integrations.litellm import model_list, servers
from integrations.litellm.client import LiteLLMClient, generate_raw_key
from integrations.litellm.models import CheckStatus, LiteLLMModel, LiteLLMServer, ModelSource
from tests.litellm.conftest import REAL_LITELLM_VERSION, RealProxy

pytestmark = [pytest.mark.real_litellm, pytest.mark.slow]


@pytest.fixture
def client(real_litellm: RealProxy) -> LiteLLMClient:
    return LiteLLMClient(base_url=real_litellm.base_url + "/v1", master_key=real_litellm.master_key)


def test_it_reads_liveliness_and_the_version(client: LiteLLMClient) -> None:
    assert client.liveliness() == "I'm alive!"
    readiness = client.readiness()
    assert readiness.litellm_version == REAL_LITELLM_VERSION
    assert readiness.db == "Not connected"


def test_it_lists_the_models(client: LiteLLMClient) -> None:
    assert sorted(client.model_names()) == ["claude-mock", "gpt-4o-mock"]


def test_it_reads_model_info_without_provider_secrets(client: LiteLLMClient) -> None:
    infos = {m.model_name: m for m in client.model_info()}
    assert infos["gpt-4o-mock"].provider_model == "openai/gpt-4o"
    assert infos["claude-mock"].provider_model == "anthropic/claude-3-5-sonnet-20240620"
    assert all(not m.db_model and len(m.model_id) > 10 for m in infos.values())
    assert all("api_key" not in m.litellm_params for m in infos.values())  # §3.2: secrets removed


def test_it_runs_the_costly_health_check_on_demand(client: LiteLLMClient) -> None:
    report = client.health_check_models()
    assert {e["model"] for e in report.healthy} == {"openai/gpt-4o", "anthropic/claude-3-5-sonnet-20240620"}
    assert report.unhealthy == []


def test_it_surfaces_the_bare_500_of_key_creation_without_a_database(client: LiteLLMClient) -> None:
    # Seen on this install of 1.106.2: with no database (and no prisma module) /key/generate
    # dies in PrismaDBExceptionHandler and answers a bare text 500, not the contract's JSON
    # "DB not connected" (which the client marks permanent). A bare 500 stays retryable;
    # the key's row gives up after key_work.RETRY.max_attempts.
    with pytest.raises(VendorHTTPError) as caught:
        client.key_generate(raw_key=generate_raw_key(), fields={"key_alias": "x"})
    assert caught.value.status == 500
    assert "Internal Server Error" in str(caught.value)


def test_it_marks_model_new_without_a_database_as_permanent(client: LiteLLMClient) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        client.model_new(model_name="x", litellm_params={"model": "openai/x"})
    assert caught.value.status == 500 and caught.value.retryable is False


def test_it_carries_the_proxys_words_for_a_wrong_master_key(real_litellm: RealProxy) -> None:
    wrong = "sk-" + "w" * 40
    client = LiteLLMClient(base_url=real_litellm.base_url, master_key=wrong)
    with pytest.raises(VendorHTTPError) as caught:
        client.model_names()
    # Seen with no database: 400 "No connected db." (contract, "Running the REAL proxy here").
    assert caught.value.status == 400 and caught.value.vendor_message == "No connected db."
    assert wrong not in str(caught.value)


@pytest.mark.django_db
def test_it_tests_the_connection_and_discovers_the_models(real_litellm: RealProxy) -> None:
    server = LiteLLMServer(name="real", base_url=real_litellm.base_url + "/v1/", network="backend-dev")
    server.master_key = real_litellm.master_key
    server.save()
    check = servers.server_check(server=server)
    assert check.reachable and check.version == REAL_LITELLM_VERSION
    assert check.models == ("claude-mock", "gpt-4o-mock")
    assert "Connection successful" in check.diagnosis
    server.refresh_from_db()
    assert server.check_status == CheckStatus.OK and server.litellm_version == REAL_LITELLM_VERSION
    rows = LiteLLMModel.objects.filter(server=server)
    assert {r.model_name for r in rows} == {"claude-mock", "gpt-4o-mock"}
    assert {r.source for r in rows} == {ModelSource.CONFIG}


@pytest.mark.django_db
def test_it_exports_the_real_model_list_with_environment_references(real_litellm: RealProxy) -> None:
    import yaml

    server = LiteLLMServer(name="real", base_url=real_litellm.base_url, network="backend-dev")
    server.master_key = real_litellm.master_key
    server.save()
    servers.server_check(server=server)
    exported = yaml.safe_load(model_list.models_export_yaml(server=server))
    by_name = {e["model_name"]: e["litellm_params"] for e in exported["model_list"]}
    assert by_name["gpt-4o-mock"] == {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"}
    assert by_name["claude-mock"]["api_key"] == "os.environ/ANTHROPIC_API_KEY"
    assert "sk-fake" not in model_list.models_export_yaml(server=server)


@pytest.mark.django_db
def test_it_reports_an_unreachable_server_with_the_diagnosis(unused_tcp_port: int) -> None:
    server = LiteLLMServer(name="down", base_url=f"http://127.0.0.1:{unused_tcp_port}", network="backend-dev")
    server.master_key = "sk-" + "x" * 30
    server.save()
    check = servers.server_check(server=server)
    assert not check.reachable and "Connection refused" in check.diagnosis
    server.refresh_from_db()
    assert server.check_status == CheckStatus.FAILED and "Connection refused" in server.check_diagnosis
