from __future__ import annotations

from django.apps import AppConfig


class LiteLLMConfig(AppConfig):
    name = "integrations.litellm"
    label = "litellm"
    verbose_name = "LiteLLM"
