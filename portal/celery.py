"""The Celery app. Settings come from Django (the CELERY_* names in portal/settings.py).

Queues: `default` for work that can run anywhere, and one queue per Docker network (its
name is on the Network row) consumed by a worker attached to that network, so a probe or a
vendor call runs from where the real traffic comes from.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
