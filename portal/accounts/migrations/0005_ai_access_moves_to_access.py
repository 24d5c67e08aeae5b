"""Pairing, PersonalKey, DriftFinding and PersonRemoval moved to portal.access (its 0001):
removed from this app's state only; their tables stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("accounts", "0004_canonical_email_addresses"),
    ]

    operations = [
        # State only: the tables keep their names (Meta.db_table) and are not touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="pairing",
                    name="default_plan",
                ),
                migrations.RemoveField(
                    model_name="pairing",
                    name="librechat_server",
                ),
                migrations.RemoveField(
                    model_name="pairing",
                    name="litellm_server",
                ),
                migrations.RemoveField(
                    model_name="personalkey",
                    name="pairing",
                ),
                migrations.RemoveField(
                    model_name="personalkey",
                    name="key",
                ),
                migrations.RemoveField(
                    model_name="personalkey",
                    name="next_key",
                ),
                migrations.RemoveField(
                    model_name="personalkey",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="personalkey",
                    name="plan",
                ),
                migrations.RemoveField(
                    model_name="personremoval",
                    name="librechat_server",
                ),
                migrations.RemoveField(
                    model_name="personremoval",
                    name="litellm_server",
                ),
                migrations.DeleteModel(
                    name="DriftFinding",
                ),
                migrations.DeleteModel(
                    name="Pairing",
                ),
                migrations.DeleteModel(
                    name="PersonalKey",
                ),
                migrations.DeleteModel(
                    name="PersonRemoval",
                ),
            ],
            database_operations=[],
        ),
    ]
