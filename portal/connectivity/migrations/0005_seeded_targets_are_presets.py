"""The seeded checks become presets an operator enables: nothing is checked that nothing
configured asks for, so a first start raises no alert.

0002 seeds the Docker-style stack (litellm:4000, librechat-api:3080, Ollama on
host.docker.internal, postgres, redis) enabled; a portal whose stack lives elsewhere saw
them all down from the first minute. Here every seeded row whose address is still the
seed's is disabled: fresh installs start with none enabled, existing installs keep each
row, its placements and its history, and an operator ticks "enabled" on those that exist.
A row whose address an operator changed was asked for and stays as it is. The servers
`bootstrap` creates from LITELLM_API_URL / LIBRECHAT_API_URL bring their own checks.
"""

from typing import Any

from django.db import migrations

# (name, address) as 0002 seeded them; frozen on purpose.
SEEDED = (
    ("LiteLLM liveliness", "http://litellm:4000/health/liveliness"),
    ("LiteLLM readiness", "http://litellm:4000/health/readiness"),
    ("LibreChat API", "http://librechat-api:3080/health"),
    ("Ollama on the host", "http://host.docker.internal:11434/api/tags"),
    ("PostgreSQL", "postgres://postgres:5432"),
    ("Redis", "redis://redis:6379"),
)


def _set_enabled(apps: Any, enabled: bool) -> None:
    Target = apps.get_model("connectivity", "Target")
    for name, address in SEEDED:
        Target.objects.filter(name=name, address=address).update(enabled=enabled)


def forwards(apps: Any, schema_editor: Any) -> None:
    _set_enabled(apps, False)


def backwards(apps: Any, schema_editor: Any) -> None:
    _set_enabled(apps, True)


class Migration(migrations.Migration):
    dependencies = [
        ("connectivity", "0004_network_worker_location_detected"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
