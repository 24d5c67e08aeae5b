"""Seed data: the two Docker networks of the seeds and their stack's health checks.

A data migration, not a bootstrap step, because compose never runs `make run`: every
deployment that migrates has them. Rows are created only when absent (by name), so an admin's
edits and deletions are never undone. Values are frozen here on purpose (a migration must not
follow later code); they match portal.connectivity.probes.PRESETS.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import migrations
from django.utils import timezone

NETWORKS = (
    ("backend-dev", "The development stack's shared Docker network (docker network create backend-dev)."),
    ("backend-prod", "The production stack's shared Docker network (docker network create backend-prod)."),
)

TARGETS = (
    # name, preset, address, kind, keyword, readiness_requires_db, service_names
    (
        "LiteLLM liveliness",
        "litellm_liveliness",
        "http://litellm:4000/health/liveliness",
        "http",
        "alive",
        False,
        "litellm",
    ),
    (
        "LiteLLM readiness",
        "litellm_readiness",
        "http://litellm:4000/health/readiness",
        "http",
        "",
        True,
        "litellm",
    ),
    (
        "LibreChat API",
        "librechat_health",
        "http://librechat-api:3080/health",
        "http",
        "OK",
        False,
        "librechat-api",
    ),
    (
        "Ollama on the host",
        "ollama_tags",
        "http://host.docker.internal:11434/api/tags",
        "http",
        '"models"',
        False,
        "ollama",
    ),
    ("PostgreSQL", "postgres", "postgres://postgres:5432", "postgres", "", False, "postgres, db"),
    ("Redis", "redis", "redis://redis:6379", "redis", "", False, "redis"),
)


def seed(apps: Any, schema_editor: Any) -> None:
    Network = apps.get_model("connectivity", "Network")
    Target = apps.get_model("connectivity", "Target")
    TargetNetwork = apps.get_model("connectivity", "TargetNetwork")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    def every(seconds: int) -> Any:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        return interval

    def beat_entry(name: str, task: str, seconds: int, queue: str, kwargs: dict[str, Any]) -> None:
        if not PeriodicTask.objects.filter(name=name).exists():
            PeriodicTask.objects.create(
                name=name, task=task, interval=every(seconds), queue=queue, kwargs=json.dumps(kwargs)
            )

    networks = []
    for name, description in NETWORKS:
        network, _ = Network.objects.get_or_create(
            name=name, defaults={"queue": f"net.{name}", "description": description}
        )
        networks.append(network)
        # The same entries portal.connectivity.schedules.network_schedule_ensure makes.
        beat_entry(
            f"connectivity sweep: {name}",
            "connectivity.network_sweep",
            30,
            network.queue,
            {"network_id": network.pk},
        )
        beat_entry(
            f"heartbeat: {network.queue}",
            "portal.worker_heartbeat",
            60,
            network.queue,
            {"queue": network.queue},
        )
    beat_entry(
        "connectivity: workers check and alert delivery", "connectivity.workers_check", 60, "default", {}
    )
    beat_entry("connectivity: prune old results", "connectivity.results_prune", 3600, "default", {})
    # Historical models send no django-celery-beat signals: tell a running beat to reload.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})

    for name, preset, address, kind, keyword, requires_db, service_names in TARGETS:
        target, created = Target.objects.get_or_create(
            name=name,
            defaults={
                "preset": preset,
                "address": address,
                "kind": kind,
                "keyword": keyword,
                "readiness_requires_db": requires_db,
                "service_names": service_names,
            },
        )
        if created:
            for network in networks:
                TargetNetwork.objects.get_or_create(target=target, network=network)


class Migration(migrations.Migration):
    dependencies = [
        ("connectivity", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
