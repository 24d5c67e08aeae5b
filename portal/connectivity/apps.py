from __future__ import annotations

from django.apps import AppConfig


class ConnectivityConfig(AppConfig):
    name = "portal.connectivity"
    label = "connectivity"
    verbose_name = "Connectivity"

    def ready(self) -> None:
        from portal.connectivity import budget_alerts, server_signals, signals  # noqa: F401  (connects the receivers)
        from portal.connectivity.server_probe import address_explain
        from portal.core.reachability import explainer_register

        budget_alerts.connect()
        # A server's "Test connection" (an integration) asks through the kit for this.
        explainer_register(address_explain)
