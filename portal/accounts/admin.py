from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern

from integrations.litellm.admin.spend import key_spend_chart_html
from portal.accounts import (
    admin_invitations,  # noqa: F401  (registers the invitations' admin)
    services,
)
from portal.accounts.forms import CanonicalEmailField, CanonicalPasswordResetForm
from portal.accounts.models import SignupPolicy, User
from portal.accounts.staff_limits import StaffLimitedUserAdmin, refuse_untouchable_people
from portal.core.admin_pages import admin_page, admin_path


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


@admin.register(User)
class UserAdmin(StaffLimitedUserAdmin, DjangoUserAdmin):
    form = PersonChangeForm
    add_form = PersonCreationForm
    ordering = ("-date_joined",)
    list_display = (
        "email",
        "name",
        "is_active",
        "is_staff",
        "email_verified_at",
        "approved_at",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "is_superuser")
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
        return key_spend_chart_html(
            key_id=key.pk,
            spend=key.spend,
            max_budget=key.max_budget,
            reset_at=key.budget_reset_at,
            budget_duration=key.budget_duration,
            whose="Their spend",
            dom_id="person-spend",
        )

    @admin.action(
        permissions=("change",), description="Approve (LibreChat account once the email is verified)"
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        if refuse_untouchable_people(request, self, queryset):
            return
        provisioned = 0
        for person in queryset:
            if services.person_approve(person=person):
                provisioned += 1
            self.log_change(request, person, "Approved")
        self.message_user(
            request, f"{queryset.count()} approved; {provisioned} LibreChat account(s) under way."
        )

    @admin.action(
        permissions=("change",),
        description="Mark the email verified and approve (they choose their password from a mailed link)",
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
        for person in queryset:
            services.person_approve(person=person)
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
    list_display = ("mode", "allowed_domains", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not SignupPolicy.objects.exists()  # one policy
