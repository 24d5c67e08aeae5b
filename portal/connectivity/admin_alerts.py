"""Alerts in the admin: channels (with "send a test alert"), the alerts list (each row says
whether it was sent, and if not why: muted, or told from the same vantage point), and the
maintenance windows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import URLPattern, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.connectivity.models import Alert, AlertChannel, AlertDelivery, MuteWindow
from portal.core.admin_pages import admin_path
from portal.core.confirm import confirm_first
from portal.core.pagination import LargeTablePaginator
from portal.core.queues import NoWorker, dispatch_and_wait
from portal.core.sensitive import SecretFormAdmin
from portal.core.validators import validate_network_url

# A test alert: a webhook's 10 s timeout and a little more; a worker must take it within 3 s.
TEST_ALERT_WAIT_SECONDS = 12.0
TEST_ALERT_PICKUP_SECONDS = 3.0
# The alerts list shows this much of each message: the list fits 1366 px, the page has it all.
MESSAGE_IN_LIST = 120


class AlertChannelForm(forms.ModelForm):
    # Not a URLField: its URLValidator refuses one-label names (http://alertmanager:9093).
    new_webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=500,
        validators=[validate_network_url],
        widget=forms.PasswordInput(render_value=False),
        help_text="Receives JSON with a Slack-compatible `text`. Stored encrypted (the URL is the "
        "credential) and never shown; leave empty to keep it.",
    )

    class Meta:
        model = AlertChannel
        fields = ("name", "kind", "email_to", "enabled")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("new_webhook_url"):
            self.instance.webhook_url = cleaned["new_webhook_url"]
        if cleaned.get("kind") == AlertChannel.Kind.WEBHOOK and not self.instance.webhook_url:
            self.add_error("new_webhook_url", "A webhook channel needs its URL.")
        return cleaned


@admin.register(AlertChannel)
class AlertChannelAdmin(SecretFormAdmin):
    form = AlertChannelForm
    list_display = ("name", "kind", "email_to", "enabled")
    actions = ("send_test_alert",)
    change_form_template = "admin/connectivity/alertchannel/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        test = admin_path(self, "<int:channel_id>/test/", self.test_view, "connectivity_alertchannel_test")
        return [test, *super().get_urls()]

    def test_view(self, request: HttpRequest, channel_id: int) -> HttpResponse:
        channel = get_object_or_404(AlertChannel, pk=channel_id)
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponse("Send a test alert is a POST from the channel's page.", status=405)
        self._send_tests(request, [channel])
        return HttpResponseRedirect(reverse("admin:connectivity_alertchannel_change", args=[channel.pk]))

    @admin.action(permissions=("change",), description="Send a test alert")
    @confirm_first(
        consequences=[
            "A test alert is sent to each channel (its webhook or mail address receives a message)."
        ]
    )
    def send_test_alert(self, request: HttpRequest, queryset: QuerySet[AlertChannel]) -> None:
        self._send_tests(request, list(queryset))

    def _send_tests(self, request: HttpRequest, channels: list[AlertChannel]) -> None:
        # Sent even to a disabled channel: testing it is how an operator decides to enable it.
        # By the worker that delivers real alerts, as a real alert goes (tasks.alert_test_send).
        for channel in channels:
            try:
                done, result, task_id = dispatch_and_wait(
                    "connectivity.alert_test_send",
                    network=None,
                    kwargs={"channel_id": channel.pk},
                    wait_seconds=TEST_ALERT_WAIT_SECONDS,
                    pickup_seconds=TEST_ALERT_PICKUP_SECONDS,
                )
            except NoWorker as exc:
                self.message_user(
                    request,
                    f"The test alert to {channel.name} waits in queue {exc.queue}: no worker consumes it. "
                    "Start the portal's worker; it sends the test when it starts.",
                    messages.WARNING,
                )
                continue
            if not task_id:
                self.message_user(
                    request,
                    f"The test alert to {channel.name} was not sent: the task queue does not answer.",
                    messages.ERROR,
                )
            elif not done or not isinstance(result, dict):
                self.message_user(
                    request,
                    f"The test alert to {channel.name} is still going out after "
                    f"{TEST_ALERT_WAIT_SECONDS:g} s (the channel's server is slow to answer).",
                    messages.WARNING,
                )
            elif result.get("failure"):
                self.message_user(request, str(result["failure"]), messages.ERROR)
            elif channel.kind == AlertChannel.Kind.EMAIL:
                self.message_user(
                    request, f"A test alert to {channel.name} is in the outbox for {channel.email_to}."
                )
            else:
                self.message_user(request, f"A test alert was posted to {channel.name}'s webhook.")


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    readonly_fields = ("channel", "delivered_at", "attempts", "last_error")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_display = ("created", "kind", "network", "target", "short_message", "sent")
    list_select_related = ("network", "target")
    list_filter = ("kind", "network")
    inlines = (AlertDeliveryInline,)
    readonly_fields = ("kind", "network", "target", "message", "created_at", "not_sent_because")

    @admin.display(description="created at (UTC)", ordering="created_at")
    def created(self, alert: Alert) -> str:
        return f"{alert.created_at:%Y-%m-%d %H:%M:%S}"

    @admin.display(description="message")
    def short_message(self, alert: Alert) -> str:
        # The first words (what went wrong, where); the full text and fix are on the alert's page.
        text = alert.message
        return text if len(text) <= MESSAGE_IN_LIST else text[: MESSAGE_IN_LIST - 3] + "..."

    @admin.display(description="sent")
    def sent(self, alert: Alert) -> SafeString:
        # The row itself says why it was not sent (muted until..., told from the same worker),
        # from its own column: no query per row. The icons are the admin's own boolean ones.
        if not alert.not_sent_because:
            return _icon(True)
        why = alert.not_sent_because.removeprefix("Not sent: ")
        return format_html('{} <span class="conn-not-sent">{}</span>', _icon(False), why)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MuteWindow)
class MuteWindowAdmin(admin.ModelAdmin):
    list_display = ("scope_shown", "starts", "ends", "reason")
    list_select_related = ("target", "network")
    list_filter = ("network",)
    autocomplete_fields = ("target",)
    ordering = ("-starts_at", "-id")

    @admin.display(description="muted", ordering="target__name")
    def scope_shown(self, window: MuteWindow) -> str:
        return window.scope

    @admin.display(description="starts (UTC)", ordering="starts_at")
    def starts(self, window: MuteWindow) -> str:
        return f"{window.starts_at:%Y-%m-%d %H:%M}"

    @admin.display(description="ends (UTC)", ordering="ends_at")
    def ends(self, window: MuteWindow) -> str:
        return f"{window.ends_at:%Y-%m-%d %H:%M}"


def _icon(yes: bool) -> SafeString:
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{'yes' if yes else 'no'}.svg"), yes)
