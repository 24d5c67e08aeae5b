"""The models of a LiteLLM server that staff manage: add and delete database models, export
the config file's `model_list:` block.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from integrations.litellm.models import (
    LiteLLMModel,
    LiteLLMServer,
    ModelSource,
)
from integrations.litellm.servers import client_for, public_params

log = logging.getLogger(__name__)


def model_add(
    *, server: LiteLLMServer, model_name: str, provider_model: str, api_key_env: str = "", api_base: str = ""
) -> LiteLLMModel:
    """POST /model/new (needs STORE_MODEL_IN_DB=True on the proxy). The provider key is passed
    as an `os.environ/NAME` reference that LiteLLM resolves itself: no literal secret leaves here."""
    params: dict[str, Any] = {"model": provider_model}
    if api_key_env:
        params["api_key"] = f"os.environ/{api_key_env}"
    if api_base:
        params["api_base"] = api_base
    with client_for(server) as client:
        model_id = client.model_new(model_name=model_name, litellm_params=params)
    row, _ = LiteLLMModel.objects.update_or_create(
        server=server,
        model_id=model_id,
        defaults={
            "model_name": model_name,
            "provider_model": provider_model,
            "source": ModelSource.DATABASE,
            "litellm_params": public_params(params) | ({"api_key": params["api_key"]} if api_key_env else {}),
            "last_synced_at": timezone.now(),
        },
    )
    return row


class ConfigModelReadOnly(Exception):
    """A model from the proxy's config file cannot be changed through the API (§3.4)."""


def model_delete(*, model: LiteLLMModel) -> None:
    if model.source != ModelSource.DATABASE:
        raise ConfigModelReadOnly(
            f"'{model.model_name}' comes from the proxy's config file: edit config.yaml and restart "
            "LiteLLM (the API deletes only database models)"
        )
    with client_for(model.server) as client:
        client.model_delete(model_id=model.model_id)
    model.delete()


def models_export_yaml(*, server: LiteLLMServer, env_names: Mapping[str, str] | None = None) -> str:
    """A ready `model_list:` block for config.yaml. Provider keys are `os.environ/NAME`
    references (LiteLLM resolves them at start), never literals."""
    import yaml

    env_names = env_names or {}
    entries = []
    for m in LiteLLMModel.objects.filter(server=server).order_by("model_name", "model_id"):
        provider = (m.provider_model.split("/", 1)[0] if "/" in m.provider_model else "openai").lower()
        params: dict[str, Any] = {"model": m.provider_model or m.model_name}
        for name in ("api_base", "api_version", "rpm", "tpm"):
            if m.litellm_params.get(name) not in (None, ""):
                params[name] = m.litellm_params[name]
        if provider == "ollama" or provider == "ollama_chat":
            params.setdefault("api_base", "os.environ/OLLAMA_API_BASE")
        else:
            env = env_names.get(provider) or _PROVIDER_KEY_ENV.get(provider, f"{provider.upper()}_API_KEY")
            params["api_key"] = f"os.environ/{env}"
        entries.append({"model_name": m.model_name, "litellm_params": params})
    return yaml.safe_dump({"model_list": entries}, sort_keys=False, default_flow_style=False)


_PROVIDER_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "VERTEXAI_CREDENTIALS",
    "azure": "AZURE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
}
