"""The Celery app. Settings come from Django (the CELERY_* names in portal/settings.py).

Queues: `default` for work that can run anywhere, and one queue per Docker network (its
name is on the Network row) consumed by a worker attached to that network, so a probe or a
vendor call runs from where the real traffic comes from.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The embedded default's broker (portal/embedded_broker.py), named before any connection; by
# path, so SQLAlchemy is imported only where that broker is used.
TRANSPORT_ALIASES.setdefault("portal-sqlite", "portal.embedded_broker:Transport")

# Every task's request survives a broker connection lost mid-task (portal/core/broker_loss.py).
app = Celery("portal", task_cls="portal.core.broker_loss:PortalTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
