"""An installed portal upgrades without loss once the models moved from portal.accounts:

- their content types are re-pointed to "access", so the permissions staff hold and the admin
  history (LogEntry rows) stay attached to the same models;
- django-celery-beat rows that name a moved task run it under its new name ("accounts.*" ->
  "access.*"); the old names stay registered for one release (portal/access/tasks.py).
Both steps run backwards too, so migrating back to accounts 0004 restores the old state.
"""

from typing import Any

from django.db import migrations
from django.utils import timezone

MOVED_MODELS = ("pairing", "personalkey", "driftfinding", "personremoval")
MOVED_TASKS = (
    "personal_key_advance",
    "personal_keys_due",
    "person_removal",
    "pairing_reconcile",
    "pairings_reconcile",
    "drift_fix",
)


def _content_types_to(apps: Any, *, old_label: str, new_label: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_MODELS:
        old = content_type.objects.filter(app_label=old_label, model=model).first()
        if old is None:
            continue  # a fresh database: post_migrate makes the new ones
        # One made for the new label meanwhile holds no staff's grants yet: the old one wins.
        content_type.objects.filter(app_label=new_label, model=model).delete()
        old.app_label = new_label
        old.save(update_fields=["app_label"])


def _beat_tasks_to(apps: Any, *, old_prefix: str, new_prefix: str) -> None:
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    periodic_tasks_changed = apps.get_model("django_celery_beat", "PeriodicTasks")
    renamed = 0
    for name in MOVED_TASKS:
        renamed += periodic_task.objects.filter(task=old_prefix + name).update(task=new_prefix + name)
    if renamed:
        # A running beat re-reads its schedule only when this marker changes (.update() sends
        # no signal).
        periodic_tasks_changed.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forwards(apps: Any, schema_editor: Any) -> None:
    _content_types_to(apps, old_label="accounts", new_label="access")
    _beat_tasks_to(apps, old_prefix="accounts.", new_prefix="access.")


def backwards(apps: Any, schema_editor: Any) -> None:
    _content_types_to(apps, old_label="access", new_label="accounts")
    _beat_tasks_to(apps, old_prefix="access.", new_prefix="accounts.")


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("accounts", "0005_ai_access_moves_to_access"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
