from django.db import migrations, models

import portal.core.validators


class Migration(migrations.Migration):
    dependencies = [
        ("litellm", "0003_virtualkey_reveal_to"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="litellmserver",
            options={
                "ordering": ("name",),
                "permissions": [
                    ("change_server_address", "Can change a server's address (where its secrets go)")
                ],
                "verbose_name": "LiteLLM server",
            },
        ),
        migrations.AlterField(
            model_name="litellmserver",
            name="base_url",
            field=models.CharField(
                help_text="The proxy's URL as seen from its network, e.g. http://litellm:4000 (a trailing /v1 is fine).",
                max_length=500,
                validators=[portal.core.validators.validate_http_url],
            ),
        ),
    ]
