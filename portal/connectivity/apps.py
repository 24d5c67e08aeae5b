from __future__ import annotations

from django.apps import AppConfig


class ConnectivityConfig(AppConfig):
    name = "portal.connectivity"
    label = "connectivity"
    verbose_name = "Connectivity"
