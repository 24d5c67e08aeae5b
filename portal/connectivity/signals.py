"""A network's beat entries follow its row: created with it, removed with it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from portal.connectivity.models import Network


@receiver(post_save, sender=Network, dispatch_uid="connectivity_network_schedules")
def network_saved(
    sender: type[Network], instance: Network, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:  # loaddata: the fixture brings its own beat entries, if any
        return
    from portal.connectivity.schedules import network_schedule_ensure, network_sweep_interval_sync

    network_schedule_ensure(network=instance)
    if not created:
        network_sweep_interval_sync(network=instance)


@receiver(post_delete, sender=Network, dispatch_uid="connectivity_network_schedules_gone")
def network_deleted(sender: type[Network], instance: Network, **kwargs: Any) -> None:
    from portal.connectivity.schedules import network_schedule_remove

    network_schedule_remove(network=instance)
