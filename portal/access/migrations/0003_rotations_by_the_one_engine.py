"""A person's key rotates through LiteLLM's one rotation engine (integrations.litellm.rotation):
the key row itself carries the replacement until LibreChat holds it, so `next_key` goes.

A rotation begun before this release (its replacement in `next_key`) is carried over: past
the push, the replacement becomes the key and the new steps give it the stable alias; before
the push, the rotation starts again (the old key kept working all along), and the replacement
made then carries the person's marker without being any record's key, so reconcile reports it
as an orphan and its safe repair deletes it.
"""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

EARLY_ROTATION_STEPS = ("rotate_issue", "rotate_push", "rotate_verify_chat", "rotate_verify_key")


def restart_rotations_in_flight(apps, schema_editor):
    PersonalKey = apps.get_model("access", "PersonalKey")
    # Past the push: LibreChat holds the replacement, which becomes the key; the new steps give
    # it the stable alias (rotate_rename). At rotate_rename `key` names it already.
    PersonalKey.objects.filter(step="rotate_delete_old", next_key__isnull=False).update(
        key=F("next_key"), next_key=None, step="rotate_rename", next_attempt_at=timezone.now()
    )
    # Before the push: the rotation starts again; the old key kept working all along.
    PersonalKey.objects.filter(step__in=EARLY_ROTATION_STEPS).update(
        step="", next_key=None, rotation_requested_at=timezone.now(), next_attempt_at=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_content_types_and_beat_tasks"),
        ("litellm", "0005_virtualkey_handed_on"),
    ]

    operations = [
        # The field goes in 0004: PostgreSQL refuses to alter a table whose rows this
        # transaction changed while their foreign keys' checks are still pending.
        migrations.RunPython(restart_rotations_in_flight, migrations.RunPython.noop),
    ]
