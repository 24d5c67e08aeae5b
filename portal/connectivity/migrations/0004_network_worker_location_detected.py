"""Where a network's worker runs is detected by the worker, not assumed.

`worker_in_container` (default True) made every worker a container, `make run` on a host
included. It becomes `worker_location`: "detect" unless an admin unticked the box, which
said "on the host" and stays so.
"""

from typing import Any

from django.db import migrations, models


def forwards(apps: Any, schema_editor: Any) -> None:
    Network = apps.get_model("connectivity", "Network")
    Network.objects.filter(worker_in_container=False).update(worker_location="host")


def backwards(apps: Any, schema_editor: Any) -> None:
    Network = apps.get_model("connectivity", "Network")
    Network.objects.filter(worker_location="host").update(worker_in_container=False)


class Migration(migrations.Migration):
    dependencies = [
        ("connectivity", "0003_network_worker_location"),
    ]

    operations = [
        migrations.AddField(
            model_name="network",
            name="worker_location",
            field=models.CharField(
                choices=[
                    ("detect", "detected by the worker"),
                    ("host", "on the host"),
                    ("container", "in a container attached to the network"),
                ],
                default="detect",
                help_text="Where this network's worker runs, which decides what `localhost` means in a diagnosis. Detected by the worker from what it sees (its interfaces, /.dockerenv, its cgroup, its hosts file); set it only when the detection is wrong.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="network",
            name="worker_location_seen",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="What the worker that last swept this network found, and why.",
                max_length=300,
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="network", name="worker_in_container"),
    ]
