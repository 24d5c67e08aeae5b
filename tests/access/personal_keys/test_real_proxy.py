"""The librechat.yaml block against the REAL LiteLLM proxy: the models it lists are the ones
the proxy serves, and its baseURL is one an OpenAI client (LibreChat) can call (`/v1/...`).
Key management needs the proxy's database, which cannot run here (contracts/litellm.md), so
the key steps are tested against the contract simulator."""

from __future__ import annotations

import pytest
import requests
import yaml

from integrations.librechat.models import LibreChatServer
from integrations.litellm import servers
from integrations.litellm.models import KeyPlan, LiteLLMServer
from portal.access import personal_keys
from portal.access.models import Pairing
from tests.litellm.conftest import RealProxy

pytestmark = [pytest.mark.django_db, pytest.mark.real_litellm, pytest.mark.slow]


def test_it_lists_the_real_proxys_models_under_a_base_url_openai_clients_can_call(
    real_litellm: RealProxy,
) -> None:
    server = LiteLLMServer(name="litellm-real", base_url=real_litellm.base_url, network="backend-dev")
    server.master_key = real_litellm.master_key
    server.save()
    assert servers.server_check(server=server).reachable  # discovers the models
    pairing = Pairing.objects.create(
        librechat_server=LibreChatServer.objects.create(name="librechat", api_url="http://librechat:3080"),
        litellm_server=server,
        default_plan=KeyPlan.objects.create(name="everyone"),  # no model list: all models
    )

    endpoint = yaml.safe_load(personal_keys.pairing_librechat_yaml(pairing=pairing))["endpoints"]["custom"][0]

    assert endpoint["models"]["default"] == ["claude-mock", "gpt-4o-mock"]
    answer = requests.post(
        endpoint["baseURL"] + "/chat/completions",
        headers={"Authorization": f"Bearer {real_litellm.master_key}"},
        json={"model": "gpt-4o-mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert (
        answer.status_code == 200
        and answer.json()["choices"][0]["message"]["content"] == "Hello from mock gpt-4o"
    )
