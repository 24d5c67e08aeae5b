from __future__ import annotations

from django.apps import AppConfig


class LibreChatConfig(AppConfig):
    name = "integrations.librechat"
    label = "librechat"
    verbose_name = "LibreChat"
