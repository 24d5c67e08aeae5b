from django.db import migrations, models

import portal.core.validators


def confirm_existing(apps, schema_editor):
    # Addresses in use before this migration were trusted as they are: confirm them, so an
    # upgrade does not stop every login. Only later changes wait for a confirmation.
    server_model = apps.get_model("librechat", "LibreChatServer")
    for server in server_model.objects.all():
        server.confirmed_address = f"{server.api_url.rstrip('/')} on {server.network}"
        server.save(update_fields=["confirmed_address"])


class Migration(migrations.Migration):
    dependencies = [
        ("librechat", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="librechatserver",
            options={
                "ordering": ("name",),
                "permissions": [
                    ("change_server_address", "Can change a server's address (where its secrets go)")
                ],
                "verbose_name": "LibreChat server",
            },
        ),
        migrations.AddField(
            model_name="librechatserver",
            name="confirmed_address",
            field=models.CharField(blank=True, editable=False, max_length=700),
        ),
        migrations.AlterField(
            model_name="librechatserver",
            name="api_url",
            field=models.CharField(
                help_text="LibreChat's API as the portal's worker reaches it on its network, e.g. http://librechat-api:3080.",
                max_length=500,
                validators=[portal.core.validators.validate_http_url],
            ),
        ),
        migrations.AlterField(
            model_name="librechatserver",
            name="public_url",
            field=models.CharField(
                blank=True,
                help_text="Where people open LibreChat's web UI in a browser, e.g. https://chat.example.com.",
                max_length=500,
                validators=[portal.core.validators.validate_http_url],
            ),
        ),
        migrations.RunPython(confirm_existing, migrations.RunPython.noop),
    ]
