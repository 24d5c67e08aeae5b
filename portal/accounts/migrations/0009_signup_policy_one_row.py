"""The signup policy becomes one row at the database level: extra rows go first, keeping the
one signup obeys (services.signup_policy_current: the lowest pk), then the unique constant."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def keep_the_policy_in_force(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    policies = apps.get_model("accounts", "SignupPolicy")
    first = policies.objects.order_by("pk").first()
    if first is not None:
        policies.objects.exclude(pk=first.pk).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_admin_words"),
    ]

    operations = [
        migrations.RunPython(keep_the_policy_in_force, migrations.RunPython.noop),
        migrations.AddField(
            model_name="signuppolicy",
            name="singleton",
            field=models.BooleanField(default=True, editable=False),
        ),
        migrations.AddConstraint(
            model_name="signuppolicy",
            constraint=models.UniqueConstraint(fields=("singleton",), name="accounts_signuppolicy_one_row"),
        ),
        migrations.AddConstraint(
            model_name="signuppolicy",
            constraint=models.CheckConstraint(
                condition=models.Q(("singleton", True)), name="accounts_signuppolicy_singleton"
            ),
        ),
    ]
