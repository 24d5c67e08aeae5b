"""Database models through /model/new and /model/delete; config-file models read-only."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.http import VendorHTTPError
from integrations.litellm import model_list, servers
from integrations.litellm.models import LiteLLMModel, LiteLLMServer, ModelSource
from portal.accounts.models import User
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker


@pytest.mark.django_db
def test_it_adds_a_database_model_with_an_environment_reference(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    sim.configure(store_model_in_db=True)
    row = model_list.model_add(
        server=server, model_name="mini", provider_model="openai/gpt-4o-mini", api_key_env="OPENAI_API_KEY"
    )
    assert row.source == ModelSource.DATABASE and row.litellm_params["api_key"] == "os.environ/OPENAI_API_KEY"
    servers.models_store(
        server=server, deployments=servers.client_for(server).model_info(), now=timezone.now()
    )
    assert LiteLLMModel.objects.get(model_id=row.model_id).source == ModelSource.DATABASE
    model_list.model_delete(model=LiteLLMModel.objects.get(model_id=row.model_id))
    assert not LiteLLMModel.objects.filter(model_id=row.model_id).exists()


@pytest.mark.django_db
def test_it_says_why_a_proxy_without_store_model_in_db_refuses(
    server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    with pytest.raises(VendorHTTPError) as caught:
        model_list.model_add(server=server, model_name="mini", provider_model="openai/gpt-4o-mini")
    assert "STORE_MODEL_IN_DB" in str(caught.value) and not caught.value.retryable


@pytest.mark.django_db
def test_config_file_models_are_read_only(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    servers.server_check(server=server)
    config_model = LiteLLMModel.objects.filter(server=server).first()
    assert config_model is not None and config_model.source == ModelSource.CONFIG
    with pytest.raises(model_list.ConfigModelReadOnly, match="config file"):
        model_list.model_delete(model=config_model)
    assert sim.calls[("POST", "/model/delete")] == 0


def test_the_admin_adds_a_model_and_refuses_literal_keys(
    transactional_db: None, sim: LiteLLMSimulator, tx_server: LiteLLMServer, net_worker: CeleryWorker
) -> None:
    sim.configure(store_model_in_db=True)
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="ops@example.com", password="a long test password"))
    url = reverse("admin:litellm_litellmmodel_add")
    bad = staff.post(
        url,
        {
            "server": tx_server.pk,
            "model_name": "m",
            "provider_model": "openai/x",
            "api_key_env": "sk-live-123",
        },
    )
    assert bad.status_code == 200 and "not a key" in bad.content.decode()
    good = staff.post(
        url,
        {
            "server": tx_server.pk,
            "model_name": "mini",
            "provider_model": "openai/gpt-4o-mini",
            "api_key_env": "OPENAI_API_KEY",
        },
        follow=True,
    )
    assert (
        "Model &#x27;mini&#x27; added" in good.content.decode()
        or "Model 'mini' added" in good.content.decode()
    )
    row = LiteLLMModel.objects.get(model_name="mini")
    response = staff.post(
        reverse("admin:litellm_litellmmodel_changelist"),
        {"action": "delete_from_litellm", "_selected_action": [row.pk], "post": "yes"},
        follow=True,
    )
    assert "deleted" in response.content.decode()
    assert not LiteLLMModel.objects.filter(model_name="mini").exists()
    assert LogEntry.objects.filter(change_message__contains="delete model 'mini'").exists()
