"""VirtualKey.handed_on: a key the portal hands on itself waits for the hand-over when rotated.

Existing keys of a person (metadata names the person, the raw key is kept to hand it on) are
such keys: they get handed_on=True.
"""

from typing import Any

from django.db import migrations, models


def mark_handed_on(apps: Any, schema_editor: Any) -> None:
    VirtualKey = apps.get_model("litellm", "VirtualKey")
    VirtualKey.objects.filter(keep_secret=True, metadata__has_key="portal_person_id").update(handed_on=True)


class Migration(migrations.Migration):
    dependencies = [
        ("litellm", "0004_server_address"),
    ]

    operations = [
        migrations.AddField(
            model_name="virtualkey",
            name="handed_on",
            field=models.BooleanField(
                default=False, help_text="The portal hands this key on; a rotation waits for the hand-over."
            ),
        ),
        migrations.RunPython(mark_handed_on, migrations.RunPython.noop),
    ]
