from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import URLPattern, reverse

from integrations.litellm.admin.spend import key_spend_chart_html
from portal.accounts import (
    admin_invitations,  # noqa: F401  (registers the invitations' admin)
    services,
)
from portal.accounts.admin_columns import joined_column, person_column, state_column
from portal.accounts.forms import CanonicalEmailField, CanonicalPasswordResetForm
from portal.accounts.models import SignupMode, SignupPolicy, User
from portal.accounts.staff_limits import StaffLimitedUserAdmin, refuse_untouchable_people
from portal.core.admin_pages import admin_page, admin_path
from portal.core.confirm import confirm_first
from portal.core.pagination import LargeTablePaginator


class PersonCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")
        field_classes = {"email": CanonicalEmailField}


class PersonChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"email": CanonicalEmailField}


class SignupStateFilter(admin.SimpleListFilter):
    title = "signup"
    parameter_name = "signup"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("waiting", "waiting for approval"),
            ("unconfirmed", "email not confirmed yet"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "waiting":
            return queryset & services.people_waiting_for_approval()
        if self.value() == "unconfirmed":
            return queryset.filter(email_verified_at__isnull=True)
        return queryset


@admin.register(User)
class UserAdmin(StaffLimitedUserAdmin, DjangoUserAdmin):
    form = PersonChangeForm
    add_form = PersonCreationForm
    ordering = ("-date_joined",)
    # Fits 1366 px (admin_columns): the name under the address, one state, the dates on the row.
    list_display = (person_column, state_column, joined_column)
    list_filter = (SignupStateFilter, "is_active", "is_staff", "is_superuser")
    paginator = LargeTablePaginator
    show_full_result_count = False  # a COUNT(*) of millions of people on every page is slow
    search_fields = ("email", "name")
    # email_verified_at only through the action below, which drops a password chosen before.
    readonly_fields = ("last_login", "date_joined", "email_verified_at", "spend_chart")
    actions = ("approve", "mark_verified_and_approve")
    change_list_template = "admin/accounts/user/change_list.html"
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
        ("Signup", {"fields": ("email_verified_at", "approved_at")}),
        ("AI spend", {"fields": ("spend_chart",)}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "name", "usable_password", "password1", "password2")},
        ),
    )

    @admin.display(description="spend per day")
    def spend_chart(self, obj: User) -> str:
        """The person's key (one row across its rotations): this budget period, or 30 days."""
        personal = getattr(obj, "personal_key", None) if obj.pk else None
        key = personal.key if personal is not None else None
        if key is None:
            return "No key yet."
        return key_spend_chart_html(key, whose="Their spend", dom_id="person-spend")

    @admin.action(
        permissions=("change",), description="Approve (LibreChat account once the email is verified)"
    )
    @confirm_first(
        consequences=[
            "Each person is approved: once their email is verified they get a LibreChat account and their own LiteLLM key."
        ]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if refuse_untouchable_people(request, self, queryset):
            return
        waiting = list(queryset.filter(approved_at__isnull=True))
        outcome = services.people_approve(people=queryset)
        for person in waiting:
            self.log_change(request, person, "Approved")
        already = (
            f" ({outcome.chosen - outcome.approved} approved before)"
            if outcome.chosen > outcome.approved
            else ""
        )
        self.message_user(
            request,
            f"{outcome.approved} approved{already}; each one whose email is confirmed gets their "
            f"LibreChat account and key from a worker ({outcome.with_account} under way or ready).",
            messages.SUCCESS,
        )

    @admin.action(
        permissions=("change",),
        description="Mark the email verified and approve (they choose their password from a mailed link)",
    )
    @confirm_first(
        consequences=[
            "Each person's email counts as verified without their click, and they are approved: they are mailed a link to choose their password, then get a LibreChat account and a key."
        ]
    )
    def mark_verified_and_approve(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if refuse_untouchable_people(request, self, queryset):
            return
        for person in services.people_address_vouched(people=queryset):
            # The same mail as "Forgot your password?": the person chooses their own password.
            reset = CanonicalPasswordResetForm({"email": person.email})
            if reset.is_valid():
                reset.save(
                    request=request,
                    use_https=request.is_secure(),
                    subject_template_name="accounts/email/password_reset_subject.txt",
                    email_template_name="accounts/email/password_reset.txt",
                )
            self.log_change(request, person, "Marked the email verified; mailed a link to choose a password")
        waiting = list(queryset.filter(approved_at__isnull=True))
        services.people_approve(people=queryset)
        for person in waiting:
            self.log_change(request, person, "Approved")
        self.message_user(
            request,
            f"{queryset.count()} person(s) cleared for AI access; those not confirmed yet got a link "
            "to choose their password (any password set before is dropped).",
        )

    def get_urls(self) -> list[URLPattern]:
        extra = [
            admin_path(
                self,
                "provision-librechat/",
                self.provision_librechat_view,
                "accounts_user_provision_librechat",
            )
        ]
        return extra + super().get_urls()

    def provision_librechat_view(self, request: HttpRequest) -> HttpResponse:
        """Provision every verified person who has no LibreChat account, and show the progress."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            created = services.people_provision_missing()
            self.message_user(request, f"{created} LibreChat account(s) queued.", messages.SUCCESS)
            from django.contrib.admin.models import CHANGE, LogEntry

            staff = request.user
            assert isinstance(staff, User)  # admin_view lets only staff in
            LogEntry.objects.log_actions(
                user_id=staff.pk,
                queryset=[staff],
                action_flag=CHANGE,
                change_message=f"Provisioned LibreChat for every verified person without an account ({created})",
                single_object=True,
            )
            return redirect("admin:accounts_user_provision_librechat")
        return admin_page(
            self,
            request,
            "admin/accounts/user/provision_librechat.html",
            title="LibreChat accounts for everyone verified",
            progress=services.provisioning_progress(),
        )


@admin.register(SignupPolicy)
class SignupPolicyAdmin(admin.ModelAdmin):
    """One settings page, not a list: the portal reads one policy (services.signup_policy_current),
    so the list leads to it, a second row is never made, and it is changed, never deleted."""

    fields = ("mode", "allowed_domains", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not SignupPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # without a row signup falls back to approval; say so by choosing a mode

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if not SignupPolicy.objects.exists() and not self.has_add_permission(request):
            # The add page would be a bare 403 for staff who may only look: say what holds.
            self.message_user(
                request,
                "No signup policy saved yet: signup is by staff approval (the default). "
                "Staff who may add the signup policy can choose another mode.",
                messages.INFO,
            )
            return redirect("admin:index")
        return redirect(_policy_page())

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if SignupPolicy.objects.exists():
            # A second row would be ignored (the first one rules): show the one there is.
            self.message_user(request, "There is one signup policy; change it here.", messages.INFO)
            return redirect(_policy_page())
        context = {
            **(extra_context or {}),
            "show_save_and_add_another": False,
            "subtitle": "No policy saved yet: until you save one, signup is by staff approval (the default).",
        }
        try:
            return super().add_view(request, form_url, context)
        except IntegrityError:
            # Another staff member saved the first policy between our check and our insert: the
            # database's one-row constraint refused ours (changeform_view's transaction rolled it
            # back). Theirs rules; show it rather than a 500.
            self.message_user(
                request,
                "Someone else saved the signup policy a moment ago, so yours was not saved. "
                "This is the policy now in force; change it here if needed.",
                messages.WARNING,
            )
            return redirect(_policy_page())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        saved = SignupPolicy.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        # The saved mode, not the one a refused form is showing.
        subtitle = f"Now: signup is {SignupMode(saved.mode).label}." if saved else None
        context = {**(extra_context or {}), "show_save_and_add_another": False, "subtitle": subtitle}
        return super().change_view(request, object_id, form_url, context)

    def response_post_save_add(self, request: HttpRequest, obj: SignupPolicy) -> HttpResponseRedirect:
        return HttpResponseRedirect(_policy_page())

    def response_post_save_change(self, request: HttpRequest, obj: SignupPolicy) -> HttpResponseRedirect:
        return HttpResponseRedirect(_policy_page())


def _policy_page() -> str:
    """The policy's own page, or the page that saves the first one."""
    policy = SignupPolicy.objects.order_by("pk").first()
    if policy is None:
        return reverse("admin:accounts_signuppolicy_add")
    return reverse("admin:accounts_signuppolicy_change", args=[policy.pk])
