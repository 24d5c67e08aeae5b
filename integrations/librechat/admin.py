"""LibreChat in the admin: servers, accounts (status, last error, retries) and sessions.

Actions that call LibreChat run as tasks on the server's network queue; where staff wait
for one row, the page waits a few seconds for the answer, else it says "pending" and the
row shows the outcome later. Every action lands in the admin log, without secrets.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html

from integrations.checks import check_sentence
from integrations.librechat import accounts, gate, servers, sessions
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.librechat.tasks import account_password_reset_task, server_check_task, session_ensure_task
from portal.core.admin_columns import next_try_words
from portal.core.admin_pages import admin_path
from portal.core.confirm import confirm_first
from portal.core.pagination import LargeTablePaginator
from portal.core.queues import dispatch_and_wait, network_queue_name, wake
from portal.core.server_address import ServerAddressAdminMixin
from portal.core.view_only import ViewOnlyAdmin

WAIT_SECONDS = 5.0
WAIT_FOR_AT_MOST = 3  # rows whose result the page waits for; more are only queued


def _log(model_admin: admin.ModelAdmin, request: HttpRequest, obj: Any, message: str) -> None:
    model_admin.log_change(request, obj, message)


@admin.register(LibreChatServer)
class LibreChatServerAdmin(ServerAddressAdminMixin):
    list_display = (
        "name",
        "api_url",
        "public_url",
        "network",
        "address_status",
        "accepts_new_accounts",
        "gates",
    )
    readonly_fields = (
        "address_status",
        "register_blocked_until",
        "login_blocked_until",
        "reset_blocked_until",
        "created_at",
    )
    address_fields = ("api_url", "network")
    actions = ("check_connection", "open_gates", "confirm_address")

    def save_model(self, request: HttpRequest, obj: LibreChatServer, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and not obj.address_confirmed:
            self.message_user(
                request,
                f"{obj}: the address changed to {obj.address}. No one's LibreChat login goes there until "
                'it is confirmed (action "Confirm the new address"); check the connection first.',
                messages.WARNING,
            )

    @admin.display(description="address")
    def address_status(self, server: LibreChatServer) -> str:
        if server.pk is None or server.address_confirmed:
            return "confirmed"
        return (
            "NOT confirmed: people's logins wait until staff with \"Can change a server's address\" "
            'confirm it (action "Confirm the new address")'
        )

    @admin.action(
        permissions=("server_address",),
        description="Confirm the new address (people's LibreChat logins then go there)",
    )
    @confirm_first(
        consequences=[
            "From then on people's LibreChat logins and sessions go to the new address of each server."
        ]
    )
    def confirm_address(self, request: HttpRequest, queryset: QuerySet[LibreChatServer]) -> None:
        for server in queryset:
            if not servers.address_confirm(server=server):
                self.message_user(request, f"{server}: its address {server.address} was confirmed already.")
                continue
            _log(self, request, server, f"Confirmed the address {server.address}")
            queued = accounts.accounts_waiting_retry(server=server)
            self.message_user(
                request,
                f"{server}: address {server.address} confirmed; {queued} waiting accounts queued again.",
                messages.SUCCESS,
            )

    @admin.display(description="LibreChat limits")
    def gates(self, server: LibreChatServer) -> str:
        return "; ".join(gate.gates_closed(server=server)) or "open"

    @admin.action(permissions=("change",), description="Test connection (health, registration open?)")
    @confirm_first(
        consequences=[
            "Each server's health and whether registration is open are checked now; nothing changes in LibreChat."
        ]
    )
    def check_connection(self, request: HttpRequest, queryset: QuerySet[LibreChatServer]) -> None:
        for server in queryset[:WAIT_FOR_AT_MOST]:
            self._check(request, server)

    def _check(self, request: HttpRequest, server: LibreChatServer) -> None:
        """Test connection on the server's network queue: the diagnosis of /health from there
        (connectivity's probe and finder), then what /api/config says about registration."""
        done, result, _ = dispatch_and_wait(
            server_check_task,
            network=server.network,
            kwargs={"server_id": server.pk},
            wait_seconds=WAIT_SECONDS,
        )
        if not done:
            self.message_user(
                request,
                f"{server}: no answer within {WAIT_SECONDS:g} s from a worker on network {server.network} "
                "(is a worker attached to that network running?)",
                messages.WARNING,
            )
        elif isinstance(result, dict):
            level = messages.SUCCESS if result.get("ok") else messages.ERROR
            self.message_user(request, f"{server}: {check_sentence(result)}", level)
        else:
            self.message_user(
                request,
                f"{server}: the check failed without an answer; see the worker's log.",
                messages.ERROR,
            )
        _log(self, request, server, "Tested the connection")

    def get_urls(self) -> list[Any]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [admin_path(self, "<int:pk>/test/", self.test_view, f"{info}_test"), *super().get_urls()]

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The server page's "Test connection" button: a POST by staff who may change the server."""
        server = get_object_or_404(LibreChatServer, pk=pk)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        if request.method == "POST":
            self._check(request, server)
        return HttpResponseRedirect(reverse("admin:librechat_librechatserver_change", args=[pk]))

    @admin.action(
        permissions=("change",),
        description="Open the rate-limit gates now (after raising LibreChat's limits)",
    )
    @confirm_first(
        consequences=[
            "Provisioning waiting behind each server's rate-limit gate starts again at once: do this after raising LibreChat's limits, or the gate closes again."
        ]
    )
    def open_gates(self, request: HttpRequest, queryset: QuerySet[LibreChatServer]) -> None:
        for server in queryset:
            gate.gates_open(server=server)
            accounts.accounts_waiting_retry(server=server)
            _log(self, request, server, "Opened the rate-limit gates")
        self.message_user(request, "Gates opened; waiting accounts were queued again.")


@admin.register(LibreChatAccount)
class LibreChatAccountAdmin(admin.ModelAdmin):
    # Fits 1366 px: attempts and the next try in one column.
    list_display = ("email", "server", "status_badge", "next_try", "short_error", "role_flag")
    list_filter = ("status", "server")
    list_select_related = ("server",)
    search_fields = ("email",)
    ordering = ("-created_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    raw_id_fields = ("person",)
    # Everything but the name LibreChat shows is the portal's or LibreChat's own record, and
    # the password never appears (it is generated, and only workers read it).
    readonly_fields = tuple(
        f.name for f in LibreChatAccount._meta.concrete_fields if f.name not in ("id", "name", "password")
    )
    fields = ("name", *readonly_fields)  # the name LibreChat shows; staff fix it after a 404
    actions = ("provision_now", "retry", "relogin", "revoke_sessions", "reset_password")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come from people (signup, or the People page's action)

    @admin.display(description="status", ordering="status")
    def status_badge(self, account: LibreChatAccount) -> str:
        return account.status_line

    @admin.display(description="next try", ordering="next_attempt_at")
    def next_try(self, account: LibreChatAccount) -> str:
        return next_try_words(account.attempts, account.next_attempt_at)

    @admin.display(description="last error")
    def short_error(self, account: LibreChatAccount) -> str:
        text = account.last_error
        return text if len(text) <= 120 else text[:117] + "..."

    @admin.display(description="role")
    def role_flag(self, account: LibreChatAccount) -> str:
        if account.role == "ADMIN":
            return format_html(
                '<strong title="{}">ADMIN ⚠</strong>',
                "LibreChat made this account its admin (the first one registered); the operator should own it.",
            )
        return account.role

    def _queue(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount], what: str) -> None:
        rows = list(queryset)
        count = accounts.accounts_retry(accounts=LibreChatAccount.objects.filter(pk__in=[a.pk for a in rows]))
        for account in rows:
            if account.status != AccountStatus.READY:
                _log(self, request, account, what)
        self.message_user(
            request,
            f"{count} account(s) queued for provisioning; the list shows each outcome"
            + (f" ({len(rows) - count} already ready)" if len(rows) > count else ""),
        )

    @admin.action(permissions=("change",), description="Provision now")
    @confirm_first(
        consequences=[
            "Each selected person's LibreChat account is created (or its work retried) now by the worker of its server's network."
        ]
    )
    def provision_now(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount]) -> None:
        self._queue(request, queryset, "Provision now")

    @admin.action(permissions=("change",), description="Retry accounts that need attention")
    @confirm_first(
        consequences=["Accounts that need attention are tried again now; the others are left alone."]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount]) -> None:
        self._queue(request, queryset.filter(status=AccountStatus.NEEDS_ATTENTION), "Retry")

    @admin.action(permissions=("change",), description="Re-login (new LibreChat session)")
    @confirm_first(
        consequences=[
            "Each ready account's LibreChat sessions are revoked and a new one is made: the person may be logged out of open LibreChat tabs."
        ]
    )
    def relogin(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount]) -> None:
        for n, account in enumerate(queryset.filter(status=AccountStatus.READY).select_related("server")):
            sessions.sessions_revoke(account=account)
            _log(self, request, account, "Re-login")
            if n >= WAIT_FOR_AT_MOST:
                wake(
                    session_ensure_task,
                    kwargs={"account_id": account.pk},
                    queue=network_queue_name(account.server.network),
                )
                continue
            done, result = sessions.session_ensure_and_wait(account=account, wait_seconds=WAIT_SECONDS)
            if not done:
                self.message_user(request, f"{account}: re-login pending", messages.WARNING)
            elif result.get("ok"):
                self.message_user(request, f"{account}: new session until {result['expires_at']}")
            else:
                self.message_user(request, f"{account}: {result.get('error')}", messages.ERROR)

    @admin.action(permissions=("change",), description="Revoke LibreChat sessions")
    @confirm_first(
        consequences=[
            "Each account's LibreChat sessions are revoked: the person is logged out of LibreChat until they come back through the portal."
        ]
    )
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount]) -> None:
        total = 0
        for account in queryset.select_related("server"):
            revoked = sessions.sessions_revoke(account=account)
            if revoked:
                _log(self, request, account, f"Revoked {revoked} LibreChat session(s)")
            total += revoked
        self.message_user(request, f"{total} session(s) revoked; LibreChat logs them out shortly.")

    @admin.action(
        permissions=("change",), description="Reset the LibreChat password (where LibreChat allows it)"
    )
    @confirm_first(
        consequences=[
            "Each account gets a new LibreChat password (where LibreChat allows it); the old password stops working."
        ]
    )
    def reset_password(self, request: HttpRequest, queryset: QuerySet[LibreChatAccount]) -> None:
        for account in queryset.select_related("server")[:WAIT_FOR_AT_MOST]:
            done, result, _ = dispatch_and_wait(
                account_password_reset_task,
                network=account.server.network,
                kwargs={"account_id": account.pk},
                wait_seconds=WAIT_SECONDS,
            )
            outcome = str(result) if done else "pending"
            _log(self, request, account, f"Reset the LibreChat password: {outcome}")
            level = messages.SUCCESS if outcome == "password reset" else messages.WARNING
            self.message_user(request, f"{account}: {outcome}", level)
        if queryset.count() > WAIT_FOR_AT_MOST:
            self.message_user(
                request, f"Only the first {WAIT_FOR_AT_MOST} were reset; select fewer.", messages.WARNING
            )


@admin.register(LibreChatSession)
class LibreChatSessionAdmin(ViewOnlyAdmin):
    list_display = (
        "account",
        "masked_access_token",
        "access_expires_at",
        "masked_refresh_token",
        "refresh_expires_at",
        "established_at",
        "revoked_at",
    )
    list_select_related = ("account",)
    search_fields = ("account__email",)
    ordering = ("-established_at",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    fields = (*list_display[:-1], "refreshed_at", "revoked_at", "logged_out_at")
    readonly_fields = fields

    @admin.display(description="access token")
    def masked_access_token(self, session: LibreChatSession) -> str:
        return session.access_token.masked() if session.access_token else "—"

    @admin.display(description="refresh token")
    def masked_refresh_token(self, session: LibreChatSession) -> str:
        return session.refresh_token.masked() if session.refresh_token else "—"
