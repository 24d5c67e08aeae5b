"""Entry-point guard: bad configuration ends in one clear line, not a traceback.

Used by manage.py, wsgi.py, asgi.py and the Celery app. `--traceback` on a management
command still shows the full story for whoever wants it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


class ConfigurationError(Exception):
    """A setting is missing or malformed. The message is one sentence naming it."""


def load_settings_or_exit() -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load
    except (ConfigurationError, ImproperlyConfigured) as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        raise SystemExit(2) from None


def run_or_explain(argv: Sequence[str]) -> None:
    load_settings_or_exit()
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(list(argv))
    except OperationalError as exc:
        if "--traceback" in argv:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"database unreachable: {reason} (check DATABASE_URL)\n")
        raise SystemExit(1) from None
