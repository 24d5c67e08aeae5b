from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules

from portal.core.bootstrap import registered_steps


class Command(BaseCommand):
    help = "Create what the environment describes (servers, schedules); idempotent, never overwrites."

    def handle(self, *args: Any, **options: Any) -> None:
        autodiscover_modules("bootstrap")
        for step in registered_steps():
            for line in step(os.environ):
                self.stdout.write(f"bootstrap: {line}")
