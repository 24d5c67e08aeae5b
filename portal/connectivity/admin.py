"""Connectivity in the admin: networks, targets with "Check now", the history, the dashboard."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse

from portal.connectivity import workers
from portal.connectivity.dashboard import dashboard_build
from portal.connectivity.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    CheckResult,
    MuteWindow,
    Network,
    Target,
    TargetNetwork,
)
from portal.connectivity.probes import ProbeSpec
from portal.connectivity.server_checks import configured_by_label
from portal.core.admin_pages import admin_page, admin_path
from portal.core.pagination import LargeTablePaginator
from portal.core.queues import NoWorker, dispatch_and_wait
from portal.core.sensitive import SecretFormAdmin
from portal.core.server_address import ServerAddressAdminMixin, may_change_address
from portal.core.validators import validate_network_url
from portal.core.view_only import ViewOnlyAdmin

# How long an admin waits for "Check now" answers from all networks together.
CHECK_NOW_WAIT_SECONDS = 10.0
# A test alert: a webhook's 10 s timeout and a little more; a worker must take it within 3 s.
TEST_ALERT_WAIT_SECONDS = 12.0
TEST_ALERT_PICKUP_SECONDS = 3.0


@admin.register(Network)
class NetworkAdmin(admin.ModelAdmin):
    list_display = ("name", "queue", "seen_from_inside", "worker")
    readonly_fields = (
        "queue",
        "facts_from_inside",
        "worker_location_seen",
        "worker_silent_since",
        "created_at",
    )
    fields = (
        "name",
        "queue",
        "facts_from_inside",
        "subnet",
        "gateway",
        "description",
        "worker_location",
        "worker_location_seen",
        "host_addresses",
        "alternative_hosts",
        "sweep_every_seconds",
        "heartbeat_stale_after_seconds",
        "tls_alert_days",
        "worker_silent_since",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Network]:
        # Per-request data rides on the rows: the admin instance is shared by every request
        # (and thread) of the process, so nothing of one request may be kept on it.
        return super().get_queryset(request).annotate(worker_seen_at=workers.last_heartbeat_of_queue())

    @admin.display(description="worker")
    def worker(self, network: Network) -> str:
        if hasattr(network, "worker_seen_at"):
            status = workers.worker_status(network=network, last_seen=network.worker_seen_at)
        else:  # a row the admin did not load through get_queryset
            status = workers.worker_statuses(networks=[network])[network.pk]
        if status.stale:
            return status.sentence
        return f"seen {status.last_seen:%H:%M:%S} UTC" if status.last_seen else "seen"

    @admin.display(description="seen from inside")
    def seen_from_inside(self, network: Network) -> str:
        """Subnet and gateway in use (pinned or reported), and any pin the worker contradicts."""
        facts = network.facts
        subnet = network.subnet or (", ".join(facts.subnets) if facts else "") or "not reported yet"
        gateway = network.gateway or (facts.gateway if facts else "") or "?"
        pinned = " (pinned)" if network.subnet or network.gateway else ""
        disagreements = network.pin_disagreements()
        warning = f" ⚠ {'; '.join(disagreements)}" if disagreements else ""
        return f"{subnet} via {gateway}{pinned}{warning}"

    @admin.display(description="what the worker sees")
    def facts_from_inside(self, network: Network) -> str:
        facts = network.facts
        if facts is None:
            return (
                "No report yet: the worker on this network reports with its heartbeat. Until then a "
                "probe uses the facts of the process that runs it."
            )
        hosts = ", ".join(f"{name} {' '.join(addresses)}" for name, addresses in facts.hosts.items())
        lines = [
            f"Reported {network.facts_seen_at:%Y-%m-%d %H:%M:%S} UTC by {facts.hostname or 'the worker'}, "
            f"{'in a container' if facts.in_container else 'on the host'} ({facts.location_reason}"
            + (f"; markers: {', '.join(facts.container_markers)}" if facts.container_markers else "")
            + ").",
            "Addresses: "
            + (", ".join(f"{a.address} on {a.interface} ({a.subnet})" for a in facts.addresses) or "none"),
            f"Default gateway: {facts.gateway or 'none'}.",
            f"Resolvers: {', '.join(facts.resolvers) or 'none'}; search domains: "
            f"{', '.join(facts.search_domains) or 'none'}.",
            f"Hosts file: {hosts or 'no names besides localhost'}"
            + ("" if facts.host_gateway_names else " (no host.docker.internal)."),
        ]
        lines += [f"Disagrees with a pin: {d}." for d in network.pin_disagreements()]
        return "\n".join(lines)

    def get_readonly_fields(self, request: HttpRequest, obj: Network | None = None) -> tuple[str, ...]:
        # The name is the queue's name: renaming would orphan the worker and beat entries.
        return (*self.readonly_fields, "name") if obj else self.readonly_fields


class TargetNetworkInline(admin.TabularInline):
    model = TargetNetwork
    extra = 0
    fields = (
        "network",
        "expect",
        "state",
        "since",
        "consecutive_failures",
        "last_checked_at",
        "last_error",
        "last_fix",
    )
    readonly_fields = ("state", "since", "consecutive_failures", "last_checked_at", "last_error", "last_fix")
    verbose_name_plural = "checked from these networks (none: every network)"

    # The network decides what the target's host name resolves to, so where its password goes.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and may_change_address(request.user, "connectivity")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if may_change_address(request.user, "connectivity") else (*fields, "network")


class TargetForm(forms.ModelForm):
    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="PostgreSQL or Redis password. Stored encrypted and never shown; leave empty to keep it "
        "(a new scheme, host or port asks for it again).",
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")

    class Meta:
        model = Target
        fields = (
            "name",
            "preset",
            "address",
            "expected_status",
            "keyword",
            "readiness_requires_db",
            "verify_tls",
            "service_names",
            "timeout_seconds",
            "interval_seconds",
            "failure_threshold",
            "tls_alert_days",
            "enabled",
        )

    def clean_expected_status(self) -> str:
        value: str = self.cleaned_data["expected_status"]
        try:
            Target(expected_status=value).expected_statuses  # noqa: B018 -- parses or raises
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        entered = cleaned.get("new_password") or cleaned.get("clear_password") or _has_password(cleaned)
        if self.address_changed() and self.instance.__dict__.get("password") is not None and not entered:
            # The stored password was entered for the old host: it never follows the row to a
            # host somebody typed in later (the same rule as the LiteLLM master key).
            self.add_error(
                "new_password",
                "The address changed (scheme, host or port): enter the password for the new address, "
                'or tick "Remove the stored password". The stored one is never sent to a new address.',
            )
        return cleaned

    def address_changed(self) -> bool:
        """Scheme, host or port differ from the stored row (a database or path does not count)."""
        if not self.instance.pk or "address" not in self.cleaned_data:
            return False  # a new target, or the address is read-only for this person
        old = Target.objects.filter(pk=self.instance.pk).values_list("address", flat=True).first()
        return old is not None and _origin(self.cleaned_data["address"]) != _origin(old)

    def _post_clean(self) -> None:
        # Set before the model's clean(), which may also move a password out of the address.
        if self.cleaned_data.get("clear_password") or self.address_changed():
            self.instance.password = None
        if self.cleaned_data.get("new_password") and not self.cleaned_data.get("clear_password"):
            self.instance.password = self.cleaned_data["new_password"]
        super()._post_clean()  # type: ignore[misc]


def _origin(address: str) -> tuple[str, str, int | None] | None:
    try:
        spec = ProbeSpec.from_url(address.strip())
    except ValueError:
        return None  # the model's clean() names what is wrong with it
    return spec.scheme, spec.target_host.lower(), spec.target_port


def _has_password(cleaned: dict[str, Any]) -> bool:
    """A password typed into the address itself (the model moves it to the encrypted field)."""
    try:
        return bool(urlsplit(str(cleaned.get("address", "")).strip()).password)
    except ValueError:
        return False


@admin.register(Target)
class TargetAdmin(ServerAddressAdminMixin, SecretFormAdmin):
    form = TargetForm
    address_fields = ("address",)  # where a PostgreSQL or Redis password goes
    inlines = (TargetNetworkInline,)
    list_display = ("name", "kind", "address", "enabled", "interval_seconds", "has_password", "follows")
    list_filter = ("enabled", "kind", "preset")
    readonly_fields = ("follows",)
    search_fields = ("name", "address")
    actions = ("check_now",)
    change_form_template = "admin/connectivity/target/change_form.html"
    change_list_template = "admin/connectivity/target/change_list.html"

    @admin.display(boolean=True, description="password")
    def has_password(self, target: Target) -> bool:
        # Reads the raw stored value: a list of targets decrypts nothing.
        return target.__dict__.get("password") is not None

    @admin.display(description="follows")
    def follows(self, target: Target) -> str:
        # From the row's own column: a list of a million targets makes no query for it.
        return configured_by_label(target.configured_by)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        target = form.instance
        if not target.placements.exists():
            TargetNetwork.objects.bulk_create(
                TargetNetwork(target=target, network=network) for network in Network.objects.all()
            )

    def get_urls(self) -> list[URLPattern]:
        urls = [
            admin_path(self, "dashboard/", self.dashboard_view, "connectivity_dashboard"),
            admin_path(
                self, "<int:target_id>/check-now/", self.check_now_view, "connectivity_target_check_now"
            ),
        ]
        return urls + super().get_urls()

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.GET.get("fragment"):  # the grid alone, for dashboard-refresh.js to swap in
            return TemplateResponse(
                request, "admin/connectivity/dashboard_grid.html", {"dashboard": dashboard_build()}
            )
        return admin_page(
            self,
            request,
            "admin/connectivity/dashboard.html",
            title="Connectivity from each network",
            dashboard=dashboard_build(),
        )

    def check_now_view(self, request: HttpRequest, target_id: int) -> HttpResponse:
        target = get_object_or_404(Target, pk=target_id)
        if not self.has_change_permission(request, target):
            raise PermissionDenied  # probing an address is a capability of its own
        if request.method != "POST":
            return HttpResponse("Check now is a POST from the target's page.", status=405)
        self._check_now(request, [target])
        return HttpResponseRedirect(reverse("admin:connectivity_target_change", args=[target.pk]))

    @admin.action(permissions=("change",), description="Check now from every network")
    def check_now(self, request: HttpRequest, queryset: QuerySet[Target]) -> None:
        self._check_now(request, list(queryset))

    def _check_now(self, request: HttpRequest, targets: list[Target]) -> None:
        """Send one check per (target, network) to that network's queue; wait a little."""
        from portal.connectivity.tasks import target_check

        deadline = time.monotonic() + CHECK_NOW_WAIT_SECONDS
        for target in targets:
            lines = []
            for placement in target.placements.select_related("network").order_by("network__name"):
                network = placement.network
                done, result, _task_id = dispatch_and_wait(
                    target_check,
                    network=network.name,
                    kwargs={"target_id": target.pk, "network_id": network.pk},
                    wait_seconds=max(0.5, deadline - time.monotonic()),
                )
                if not done:
                    lines.append(
                        f"{network.name}: pending (no answer yet; is a worker consuming {network.queue}?)"
                    )
                elif isinstance(result, dict):
                    word = "ok" if result.get("ok") else "FAILED"
                    line = f"{network.name}: {word}, state {result.get('state')}"
                    if not result.get("ok"):
                        line += f": {result.get('summary')} {result.get('fix')}".rstrip()
                    lines.append(line)
                else:  # the task raised: its exception, which names no secret
                    lines.append(f"{network.name}: the check failed to run ({result!r})")
            summary = "; ".join(lines) or "not placed on any network"
            self.log_change(request, target, f"Check now: {summary}"[:2000])
            level = messages.SUCCESS if lines and all(": ok" in line for line in lines) else messages.WARNING
            self.message_user(request, f"{target.name}: {summary}", level)


@admin.register(CheckResult)
class CheckResultAdmin(ViewOnlyAdmin):
    # A million rows: no full COUNT, no DISTINCT-based filters, every filter indexed
    # (see CheckResult.Meta.indexes), no date_hierarchy (it scans for distinct dates).
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_per_page = 100
    # Fits 1366 px: the HTTP status and latency in one "answer" column.
    list_display = ("checked_at", "target", "network", "ok_mark", "answer", "error_kind", "short_diagnosis")
    list_select_related = ("target", "network")
    list_filter = ("network", "ok", "error_kind", "target")
    ordering = ("-checked_at", "-id")

    @admin.display(boolean=True, description="ok", ordering="ok")
    def ok_mark(self, result: CheckResult) -> bool:
        return result.ok

    @admin.display(description="answer", ordering="latency_ms")
    def answer(self, result: CheckResult) -> str:
        parts = [
            f"HTTP {result.http_status}" if result.http_status else "",
            f"{result.latency_ms} ms" if result.latency_ms is not None else "",
        ]
        return ", ".join(p for p in parts if p) or "-"

    @admin.display(description="diagnosis")
    def short_diagnosis(self, result: CheckResult) -> str:
        text = result.diagnosis or ""
        return text if len(text) <= 120 else text[:117] + "..."


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
    list_display = ("created_at", "kind", "network", "target", "message", "sent")
    list_select_related = ("network", "target")
    list_filter = ("kind", "network")
    inlines = (AlertDeliveryInline,)
    readonly_fields = ("kind", "network", "target", "message", "created_at", "not_sent_because")

    @admin.display(boolean=True, description="sent")
    def sent(self, alert: Alert) -> bool:
        # From the row's own column: "not sent" says why on the alert's page.
        return not alert.not_sent_because

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(MuteWindow)
class MuteWindowAdmin(admin.ModelAdmin):
    list_display = ("__str__", "target", "network", "starts_at", "ends_at", "reason")
    list_select_related = ("target", "network")
    list_filter = ("network",)
    autocomplete_fields = ("target",)
    ordering = ("-starts_at", "-id")
