from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a worker consuming `queue` proved it was alive (a beat job per queue).

    A queue whose heartbeat is old has no worker: work routed there waits, and anything that
    reports state from that queue (a network's probes) is stale, not "up".
    """

    queue = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ("queue",)

    def __str__(self) -> str:
        return f"{self.queue} @ {self.hostname}"
