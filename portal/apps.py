from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project package itself: management commands, health views, shared templates."""

    name = "portal"
    verbose_name = "Portal"
