"""Each network's worker reports what it sees from inside (facts_seen); subnet and gateway
become pins an operator sets only when that report is wrong.

The facts travel with the network's heartbeat, so its beat entry now runs
`connectivity.network_heartbeat` (the kit's heartbeat plus the report) with the network's id.
"""

import json
from typing import Any

from django.db import migrations, models
from django.utils import timezone

OLD_TASK, NEW_TASK = "portal.worker_heartbeat", "connectivity.network_heartbeat"


def heartbeats_report_facts(apps: Any, schema_editor: Any) -> None:
    _move_heartbeats(apps, old=OLD_TASK, new=NEW_TASK, kwargs=lambda n: {"network_id": n.pk})


def heartbeats_back(apps: Any, schema_editor: Any) -> None:
    _move_heartbeats(apps, old=NEW_TASK, new=OLD_TASK, kwargs=lambda n: {"queue": n.queue})


def _move_heartbeats(apps: Any, *, old: str, new: str, kwargs: Any) -> None:
    Network = apps.get_model("connectivity", "Network")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for network in Network.objects.all():
        PeriodicTask.objects.filter(name=f"heartbeat: {network.queue}", task=old).update(
            task=new, kwargs=json.dumps(kwargs(network))
        )
    # Historical models send no django-celery-beat signals: tell a running beat to reload.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("connectivity", "0006_target_address_permission"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="network",
            name="facts_seen",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text="What the network's worker last reported from inside: addresses and subnets, "
                "gateway, resolvers, search domains, hosts-file names, container or host.",
            ),
        ),
        migrations.AddField(
            model_name="network",
            name="facts_seen_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="network",
            name="gateway",
            field=models.GenericIPAddressField(
                blank=True,
                help_text="Leave empty: the worker reports its default gateway (the Docker host as seen from "
                "containers). A pinned gateway wins and must lie inside the subnet.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="network",
            name="subnet",
            field=models.CharField(
                blank=True,
                help_text="Leave empty: the network's worker reports the subnets it sees. Pin a range "
                "(e.g. 172.20.0.0/16) only when that report is wrong; a pinned value wins.",
                max_length=64,
            ),
        ),
        migrations.RunPython(heartbeats_report_facts, heartbeats_back),
    ]
