"""django-celery-beat's periodic-task admin, with its actions behind the change permission.

Upstream offers "Run selected tasks" (and enable/disable/toggle) to anyone who may merely view
the list (django_celery_beat/admin.py, PeriodicTaskAdmin.actions has no allowed_permissions):
a view-only staff member could start any task, a key rotation or a network sweep included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin as UpstreamPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask


class PeriodicTaskAdmin(UpstreamPeriodicTaskAdmin):
    def get_actions(self, request: HttpRequest) -> Any:
        if not self.has_change_permission(request):
            return {}
        return super().get_actions(request)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
