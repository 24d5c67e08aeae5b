"""Addresses as Docker users write them: one-label service names inside a network, and a
browser-facing URL that never goes without its scheme."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations.librechat.bootstrap import librechat_server
from integrations.librechat.models import LibreChatServer
from integrations.litellm.forms import ModelAddForm
from integrations.litellm.models import LiteLLMServer
from portal.connectivity.admin_alerts import AlertChannelForm
from portal.connectivity.models import Target
from portal.core.validators import validate_browser_url, validate_network_url

INSIDE_A_NETWORK = [
    "http://ollama:11434",
    "http://litellm:4000",
    "http://litellm:4000/v1",
    "http://my_stack_litellm_1:4000",
    "https://llm.example.com",
    "http://10.0.0.5:8080",
    "http://[fd00::5]:4000",
    "HTTPS://LiteLLM.internal",
]
REFUSED = [
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("chat.example.com", "does not start with http:// or https://"),
    ("litellm:4000", "does not start with http:// or https://"),
    ("javascript:alert(1)", "does not start with http:// or https://"),
    ("ftp://files.example.com", "does not start with http:// or https://"),
    ("http:/litellm", "does not start with http:// or https://"),
    ("http://lit ellm:4000", "a space"),
    ("http://litellm:4000\n", "a space"),
    ("http://l\u0456tellm:4000", "not plain ASCII"),  # Cyrillic U+0456 that reads as a Latin i
    ("http://litellm:99999", "port is not a number"),
    ("http://litellm:0", "port is not a number"),
    ("http://-litellm-:4000", "not a name of letters"),
    ("http://300.1.1.1", "not an IPv4 address"),
    ("http://" + "a" * 600, "longer than 500 characters"),
]


@pytest.mark.parametrize("url", INSIDE_A_NETWORK)
def test_it_accepts_the_addresses_docker_users_write(url: str) -> None:
    validate_network_url(url)
    validate_browser_url(url)


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_it_refuses_bad_addresses_with_a_sentence(url: str, why: str) -> None:
    for validate in (validate_network_url, validate_browser_url):
        with pytest.raises(ValidationError) as refused:
            validate(url)
        message = refused.value.messages[0]
        assert message.startswith("This is not an http:// or https:// address: ") and why in message


def test_the_browser_url_names_a_public_example() -> None:
    with pytest.raises(ValidationError, match=r"e\.g\. https://chat\.example\.com"):
        validate_browser_url("chat.example.com")


@pytest.mark.django_db
def test_a_model_may_send_its_requests_to_a_one_label_service() -> None:
    server = LiteLLMServer.objects.create(name="local", base_url="http://litellm:4000", master_key="sk-m")
    data = {"server": server.pk, "model_name": "llama3", "provider_model": "ollama/llama3"}
    form = ModelAddForm({**data, "api_base": "http://ollama:11434"}, may_set_address=True)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["api_base"] == "http://ollama:11434"
    refused = ModelAddForm({**data, "api_base": "ollama:11434"}, may_set_address=True)
    assert not refused.is_valid() and "does not start with http://" in refused.errors["api_base"][0]


@pytest.mark.django_db
def test_librechat_servers_take_a_service_name_inside_and_a_full_url_outside() -> None:
    server = LibreChatServer(
        name="chat", api_url="http://librechat-api:3080", public_url="https://chat.example.com"
    )
    server.full_clean()
    server.public_url = "chat.example.com"
    with pytest.raises(ValidationError) as refused:
        server.full_clean()
    assert "does not start with http:// or https://" in refused.value.message_dict["public_url"][0]


@pytest.mark.django_db
def test_bootstrap_never_stores_a_public_url_without_its_scheme() -> None:
    lines = librechat_server(
        {"LIBRECHAT_API_URL": "http://librechat-api:3080", "LIBRECHAT_PUBLIC_URL": "chat.example.com"}
    )
    assert LibreChatServer.objects.get().public_url == ""
    assert any("LIBRECHAT_PUBLIC_URL 'chat.example.com' not used" in line for line in lines), lines


@pytest.mark.django_db
def test_a_webhook_may_live_inside_the_network() -> None:
    form = AlertChannelForm(
        {
            "name": "ops",
            "kind": "webhook",
            "email_to": "",
            "new_webhook_url": "http://alertmanager:9093/hook",
            "enabled": "on",
        }
    )
    assert form.is_valid(), form.errors
    refused = AlertChannelForm(
        {
            "name": "ops",
            "kind": "webhook",
            "email_to": "",
            "new_webhook_url": "hooks.example.com/secret-path",
            "enabled": "on",
        }
    )
    assert not refused.is_valid()
    assert "secret-path" not in str(refused.errors)  # the URL is the credential: never echoed


@pytest.mark.django_db
def test_a_target_with_a_look_alike_letter_is_refused() -> None:
    target = Target(name="look-alike", address="http://l\u0456tellm:4000/health/liveliness")
    with pytest.raises(ValidationError) as refused:
        target.full_clean()
    assert "not plain ASCII" in refused.value.message_dict["address"][0]
    Target(name="ollama", address="http://ollama:11434/api/tags").full_clean()
