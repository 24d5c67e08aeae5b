"""The invitations' admin: invite one address (its link shown once), resend, revoke, and invite
a whole class or team from a CSV file (upload, preview, confirm, progress). Only calls services
(portal/accounts/invitations.py and invitation_import.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html

from portal.accounts import invitation_import, invitations
from portal.accounts.addresses import AddressRefused, canonical_email
from portal.accounts.forms import CanonicalEmailField
from portal.accounts.invitation_csv import MAX_BYTES, MAX_ROWS, FileRefused
from portal.accounts.models import ImportStatus, Invitation, InvitationImport, User
from portal.accounts.views_invitation import accept_url
from portal.core.admin_pages import admin_page, admin_path
from portal.core.confirm import confirm_first
from portal.core.pagination import LargeTablePaginator
from portal.core.view_only import ViewOnlyAdmin
from portal.models import MailStatus

LINK_PAGE = "admin/accounts/invitation/links.html"
MAX_LINKS_SHOWN = 100  # a resend of more rows mails them all; the page lists this many links


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email", "name", "plan")
        field_classes = {"email": CanonicalEmailField}

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"]
        if self.instance.pk is not None:
            return self.instance.email  # the address of an invitation never changes
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError(f"{email} already has an account.")
        if invitations.open_invitations().filter(email=email).exists():
            raise forms.ValidationError(f"{email} already has an open invitation: resend it from the list.")
        return email


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "open"), ("expired", "expired"), ("used", "used"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        now = timezone.now()
        unused = queryset.filter(used_at__isnull=True, revoked_at__isnull=True)
        return {
            "open": unused.exclude(expires_at__lte=now),
            "expired": unused.filter(expires_at__lte=now),
            "used": queryset.filter(used_at__isnull=False),
            "revoked": queryset.filter(revoked_at__isnull=False, used_at__isnull=True),
        }.get(self.value() or "", queryset)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    list_display = ("email", "name", "state", "mail_status", "plan_name", "expires")
    list_select_related = ("plan", "mail")
    list_filter = (StateFilter,)
    search_fields = ("email",)
    search_help_text = "An address (any spelling), or how one starts."
    paginator = LargeTablePaginator
    show_full_result_count = False  # a COUNT(*) of millions of rows on every page is slow
    readonly_fields = (
        "state",
        "mail_status",
        "invited_by",
        "created_at",
        "expires_at",
        "used_at",
        "revoked_at",
        "batch",
    )
    ordering = ("-created_at",)
    actions = ("resend", "revoke")
    change_list_template = "admin/accounts/invitation/change_list.html"

    def get_fields(self, request: HttpRequest, obj: Invitation | None = None) -> Any:
        if obj is None:
            return ["email", "name", "plan"]
        return ["email", "name", "plan", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Invitation | None = None) -> tuple[str, ...]:
        return ("email", *self.readonly_fields) if obj is not None else ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Invitation], search_term: str
    ) -> tuple[QuerySet[Invitation], bool]:
        # Addresses are stored canonical: an address is found by its canonical form (one index
        # lookup), anything else by how the address starts (the pattern index), never a scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(email=canonical_email(term)), False
        except AddressRefused:
            return queryset.filter(email__startswith=term.lower()), False

    @admin.display(description="state")
    def state(self, obj: Invitation) -> str:
        return invitations.invitation_state(obj)

    @admin.display(description="invitation mail")
    def mail_status(self, obj: Invitation) -> str:
        outgoing = obj.mail
        if outgoing is None:
            return "none (an allow-list entry: the address may sign up)" if not obj.token_hash else "not made"
        if outgoing.status == MailStatus.SENT:
            return f"sent {timezone.localtime(outgoing.sent_at):%m-%d %H:%M}" if outgoing.sent_at else "sent"
        why = outgoing.last_error or "waiting for a worker"
        if outgoing.status == MailStatus.FAILED:
            return f"not sent (gave up): {why}"
        return f"not sent yet: {why}"

    @admin.display(description="plan")
    def plan_name(self, obj: Invitation) -> str:
        return obj.plan.name if obj.plan else "default"

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: Invitation) -> str:
        return f"{timezone.localtime(obj.expires_at):%Y-%m-%d}" if obj.expires_at else "no end"

    # --- one invitation: made here, its link shown once -------------------------------------

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        obj.invited_by = request.user  # type: ignore[assignment]
        try:
            obj._link = invitations.invitation_issue(obj, accept_url=accept_url(request))  # type: ignore[attr-defined]
        except invitations.InvitationRefused as refusal:  # another staff member was quicker
            obj._refused = str(refusal)  # type: ignore[attr-defined]

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if obj.pk is None else super().log_addition(request, obj, message)

    def response_add(
        self, request: HttpRequest, obj: Invitation, post_url_continue: str | None = None
    ) -> HttpResponse:
        refused = getattr(obj, "_refused", "")
        if refused:
            self.message_user(request, refused, messages.ERROR)
            return redirect("admin:accounts_invitation_changelist")
        return self._links_page(
            request, [(obj, getattr(obj, "_link", ""))], title="Invitation made and mailed"
        )

    def _links_page(
        self, request: HttpRequest, made: list[tuple[Invitation, str]], *, title: str
    ) -> HttpResponse:
        response = admin_page(
            self,
            request,
            LINK_PAGE,
            title=title,
            made=made[:MAX_LINKS_SHOWN],
            more=len(made) - MAX_LINKS_SHOWN,
        )
        response["Cache-Control"] = "no-store"  # the links are credentials: never from a cache
        return response

    @admin.action(permissions=("change",), description="Resend with a new link (the old link stops working)")
    @confirm_first(
        consequences=["Each invitation gets a new link and is mailed again; the old link stops working."]
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> HttpResponse | None:
        made = []
        for invitation in queryset.select_related("invited_by").order_by("pk"):
            resent = invitations.invitation_resend(invitation=invitation, accept_url=accept_url(request))
            if resent is not None:
                made.append((resent.invitation, resent.link))
                self.log_change(request, invitation, "Resent with a new link")
        if not made:
            self.message_user(
                request,
                "Nothing resent: used or revoked invitations have no link to resend.",
                messages.WARNING,
            )
            return None
        return self._links_page(
            request, made, title=f"{len(made)} invitation(s) mailed again with a new link"
        )

    @admin.action(permissions=("change",), description="Revoke (the link stops working)")
    @confirm_first(
        consequences=["Each invitation's link stops working; nobody can sign up with it any more."]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        revoked = 0
        for invitation in queryset.order_by("pk"):
            if invitations.invitation_revoke(invitation=invitation):
                revoked += 1
                self.log_change(request, invitation, "Revoked")
        self.message_user(
            request, f"{revoked} invitation(s) revoked; used or already revoked ones are unchanged."
        )

    # --- a CSV of people ------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            admin_path(self, "import/", self.import_upload_view, "accounts_invitation_import"),
            admin_path(self, "import/<int:import_id>/", self.import_view, "accounts_invitation_import_show"),
            *super().get_urls(),
        ]

    def import_upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = invitation_import.import_preview(
                    data=upload.read(MAX_BYTES + 1),
                    filename=upload.name or "upload.csv",
                    uploaded_by=request.user,  # type: ignore[arg-type]
                )
            except FileRefused as refusal:
                form.add_error("file", str(refusal))
            else:
                return redirect("admin:accounts_invitation_import_show", import_id=batch.pk)
        return admin_page(
            self,
            request,
            "admin/accounts/invitation/import_upload.html",
            title="Invite people from a CSV file",
            form=form,
            max_size=f"{MAX_BYTES / 1_000_000:g} MB",
            max_rows=f"{MAX_ROWS:,}",
        )

    def import_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(InvitationImport, pk=import_id)
        if request.method == "POST":
            if not self.has_add_permission(request):
                raise PermissionDenied
            if invitation_import.import_confirm(batch=batch, accept_url=accept_url(request)):
                self.message_user(
                    request, f"Inviting {batch.to_invite} people: a worker makes and mails the invitations."
                )
            return redirect("admin:accounts_invitation_import_show", import_id=batch.pk)
        order = {"refused": 0, "new": 1, "invited": 2, "person": 3}
        rows = sorted(batch.rows, key=lambda row: (order[row["verdict"]], row["line"]))
        progress = invitation_import.import_progress(batch) if batch.status != ImportStatus.PREVIEW else None
        return admin_page(
            self,
            request,
            "admin/accounts/invitation/import.html",
            title=f"CSV import: {batch.filename}",
            batch=batch,
            rows=[{**row, "verdict_words": invitation_import.VERDICT_WORDS[row["verdict"]]} for row in rows],
            counts=invitation_import.verdict_counts(batch),
            progress=progress,
            can_confirm=batch.status == ImportStatus.PREVIEW
            and batch.to_invite > 0
            and self.has_add_permission(request),
            refresh=progress is not None and not progress.finished,
        )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns email,name,plan (the header line first; name and plan may be empty).",
    )


@admin.register(InvitationImport)
class InvitationImportAdmin(ViewOnlyAdmin):
    list_display = ("filename", "page", "status", "to_invite", "uploaded_by", "created_at")
    list_select_related = ("uploaded_by",)
    ordering = ("-created_at",)
    exclude = ("rows",)

    @admin.display(description="preview and progress")
    def page(self, obj: InvitationImport) -> str:
        url = reverse("admin:accounts_invitation_import_show", args=[obj.pk])
        return format_html('<a href="{}">open</a>', url)
