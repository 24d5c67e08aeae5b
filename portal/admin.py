"""django-celery-beat's periodic-task admin, with its actions behind the change permission.

Upstream offers "Run selected tasks" (and enable/disable/toggle) to anyone who may merely view
the list (django_celery_beat/admin.py, PeriodicTaskAdmin.actions has no allowed_permissions):
a view-only staff member could start any task, a key rotation or a network sweep included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin as UpstreamPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from portal.core import mail
from portal.core.confirm import confirm_first
from portal.models import OutgoingMail


class PeriodicTaskAdmin(UpstreamPeriodicTaskAdmin):
    def get_actions(self, request: HttpRequest) -> Any:
        if not self.has_change_permission(request):
            return {}
        return super().get_actions(request)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin):
    """What the portal mailed and what it could not: the body is never shown (it holds
    verification and reset links, which are credentials)."""

    list_display = (
        "created_at",
        "kind",
        "recipients",
        "subject",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "kind")
    search_fields = ("subject",)
    fields = (
        "kind",
        "recipients",
        "subject",
        "status",
        "created_at",
        "sent_at",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    readonly_fields = fields
    actions = ("send_again",)

    @admin.display(description="to")
    def recipients(self, obj: OutgoingMail) -> str:
        return ", ".join(obj.to)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # mail is written by the portal, not typed in here

    @admin.action(permissions=("change",), description="Send again now")
    @confirm_first(consequences=["Each mail is handed to a worker to be sent again now."])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutgoingMail]) -> None:
        count = mail.mails_retry(mails=queryset)
        self.message_user(request, f"{count} mail(s) handed to a worker to send again.")
