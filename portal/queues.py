"""Celery queue names. `default` plus one queue per Docker network.

A network's queue is consumed only by a worker attached to that network, so whatever runs
there (probes, vendor calls to a server on that network) goes out from the right place.
"""

from __future__ import annotations

from django.apps import apps

DEFAULT_QUEUE = "default"


def network_queue_name(network_name: str) -> str:
    return f"net.{network_name}"


def all_queue_names() -> list[str]:
    names = [DEFAULT_QUEUE]
    if apps.is_installed("portal.connectivity"):
        Network = apps.get_model("connectivity", "Network")
        names += [q for q in Network.objects.order_by("name").values_list("queue", flat=True) if q]
    return list(dict.fromkeys(names))
