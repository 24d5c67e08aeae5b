from __future__ import annotations

from django.apps import AppConfig


class ConnectivityConfig(AppConfig):
    name = "portal.connectivity"
    label = "connectivity"
    verbose_name = "Connectivity"

    def ready(self) -> None:
        from portal.connectivity import signals  # noqa: F401  (connects the receivers)
