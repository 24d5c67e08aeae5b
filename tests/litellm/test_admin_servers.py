"""Server page: "Test connection" (real proxy, real worker on the server's network queue),
sync now, the model_list export, and the master key never shown."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from integrations.litellm.models import CheckStatus, LiteLLMServer
from portal.accounts.models import User
from tests.litellm.conftest import REAL_LITELLM_VERSION, RealProxy
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker

INLINE = {"llm_models-TOTAL_FORMS": "0", "llm_models-INITIAL_FORMS": "0"}


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.real_litellm
def test_test_connection_shows_the_version_and_the_models_discovered(
    staff: Client, real_litellm: RealProxy, net_worker: CeleryWorker
) -> None:
    server = LiteLLMServer(name="gateway", base_url=real_litellm.base_url + "/v1", network="backend-dev")
    server.master_key = real_litellm.master_key
    server.save()
    response = staff.post(reverse("admin:litellm_litellmserver_test", args=[server.pk]), follow=True)
    text = response.content.decode()
    assert f"Connection successful: LiteLLM {REAL_LITELLM_VERSION}, 2 models discovered" in text
    assert "Models: claude-mock, gpt-4o-mock" in text
    server.refresh_from_db()
    assert server.check_status == CheckStatus.OK
    # The dropdowns are populated: the key form offers the discovered models.
    add = staff.get(reverse("admin:litellm_virtualkey_add")).content.decode()
    assert 'value="gpt-4o-mock"' in add and 'value="claude-mock"' in add
    assert real_litellm.master_key not in text and real_litellm.master_key not in add
    assert LogEntry.objects.filter(change_message="Tested the connection").exists()


def test_test_connection_explains_an_unreachable_proxy(
    staff: Client, unused_tcp_port: int, net_worker: CeleryWorker
) -> None:
    server = LiteLLMServer(name="gone", base_url=f"http://127.0.0.1:{unused_tcp_port}", network="backend-dev")
    server.master_key = "sk-" + "g" * 30
    server.save()
    response = staff.post(reverse("admin:litellm_litellmserver_test", args=[server.pk]), follow=True)
    assert "not reachable" in response.content.decode() and "Connection refused" in response.content.decode()


def test_the_master_key_is_stored_encrypted_and_never_shown(staff: Client, transactional_db: None) -> None:
    secret = "sk-master-" + "q" * 30
    response = staff.post(
        reverse("admin:litellm_litellmserver_add"),
        {
            "name": "dev",
            "base_url": "http://litellm:4000/v1",
            "network": "backend-dev",
            "master_key_input": secret,
            **INLINE,
        },
    )
    assert response.status_code == 302
    server = LiteLLMServer.objects.get()
    assert server.base_url == "http://litellm:4000" and server.master_key.reveal() == secret
    page = staff.get(reverse("admin:litellm_litellmserver_change", args=[server.pk])).content.decode()
    assert secret not in page and "sk-...qqqq" in page
    # An empty field on edit keeps the stored key.
    staff.post(
        reverse("admin:litellm_litellmserver_change", args=[server.pk]),
        {
            "name": "dev",
            "base_url": "http://litellm:4000",
            "network": "backend-dev",
            "master_key_input": "",
            **INLINE,
        },
    )
    server.refresh_from_db()
    assert server.master_key.reveal() == secret


def test_sync_now_and_the_yaml_export(
    staff: Client, sim: LiteLLMSimulator, tx_server: LiteLLMServer, net_worker: CeleryWorker
) -> None:
    sim.seed_keys(3)
    response = staff.post(reverse("admin:litellm_litellmserver_sync", args=[tx_server.pk]), follow=True)
    assert "3 keys seen in 1 list calls: 3 adopted" in response.content.decode()
    exported = staff.get(reverse("admin:litellm_litellmserver_export", args=[tx_server.pk]))
    assert exported["Content-Type"].startswith("text/yaml")
    block = yaml.safe_load(exported.content)
    assert {e["model_name"] for e in block["model_list"]} == {"gpt-4o-mock", "claude-mock"}
    assert all(e["litellm_params"]["api_key"].startswith("os.environ/") for e in block["model_list"])
    assert b"sk-fake" not in exported.content


def test_the_costly_health_check_runs_only_when_asked(
    staff: Client, sim: LiteLLMSimulator, tx_server: LiteLLMServer, net_worker: CeleryWorker
) -> None:
    staff.post(reverse("admin:litellm_litellmserver_test", args=[tx_server.pk]))
    staff.post(reverse("admin:litellm_litellmserver_sync", args=[tx_server.pk]))
    assert sim.calls[("GET", "/health")] == 0
    sim.configure(unhealthy_models={"claude-mock"})
    response = staff.post(
        reverse("admin:litellm_litellmserver_changelist"),
        {"action": "health_action", "_selected_action": [tx_server.pk], "post": "yes"},
        follow=True,
    )
    text = response.content.decode()
    assert "healthy: openai/gpt-4o; unhealthy: anthropic/claude-3-5-sonnet-20240620" in text
    assert sim.calls[("GET", "/health")] == 1
