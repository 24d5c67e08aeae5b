"""Print the comma-separated list of every Celery queue (for a worker that consumes all)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.core.queues import all_queue_names


class Command(BaseCommand):
    help = "Print every Celery queue name: default plus one per network."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(",".join(all_queue_names()))
