"""Admin for people's keys: pairings (with the librechat.yaml block), each person's key and its
step, the drift found by reconcile with one-click fixes, and removals staff must finish.
Actions only write rows and enqueue; workers make the vendor calls."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from integrations.litellm.last_use import IDLE_CHOICES, idle_condition, last_used_words
from portal.access import personal_keys, reconcile
from portal.access.models import DriftFinding, Pairing, PersonalKey, PersonRemoval
from portal.core.admin_columns import next_try_words
from portal.core.confirm import confirm_first
from portal.core.pagination import LargeTablePaginator
from portal.core.queues import dispatch_and_wait
from portal.core.server_address import may_change_address
from portal.core.validators import validate_network_url
from portal.core.view_only import ViewOnlyAdmin

RECONCILE_WAIT_SECONDS = 8.0


@admin.register(Pairing)
class PairingAdmin(admin.ModelAdmin):
    list_display = ("librechat_server", "litellm_server", "endpoint_name", "default_plan")
    list_select_related = ("librechat_server", "litellm_server", "default_plan")
    readonly_fields = ("librechat_yaml", "created_at")
    actions = ("reconcile_report", "reconcile_and_repair")

    class Media:
        js = ("portal/copy.js",)  # the librechat.yaml block's copy button

    def get_readonly_fields(self, request: HttpRequest, obj: Pairing | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # LibreChat sends every person's LiteLLM key to this URL: a LiteLLM server's address.
        if not may_change_address(request.user, "litellm"):
            fields += ("litellm_url_for_librechat",)
        return fields

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "litellm_url_for_librechat" and field is not None:
            field.validators.append(validate_network_url)  # the baseURL pasted into librechat.yaml
        return field

    @admin.display(description="Block for librechat.yaml (custom endpoint, ready to paste)")
    def librechat_yaml(self, obj: Pairing) -> str:
        if obj.pk is None:
            return "Save the pairing first."
        return format_html(
            '<pre id="librechat-yaml">{}</pre><button type="button" class="button copy-button" '
            'data-copy="librechat-yaml" aria-label="Copy the librechat.yaml block">Copy</button>'
            '<span id="librechat-yaml-copy-status" class="copy-status" role="status" aria-live="polite"></span>',
            personal_keys.pairing_librechat_yaml(pairing=obj),
        )

    def _reconcile(self, request: HttpRequest, queryset: QuerySet[Pairing], *, repair: bool) -> None:
        from portal.access.tasks import pairing_reconcile_task

        for pairing in queryset.select_related("litellm_server"):
            done, result, _ = dispatch_and_wait(
                pairing_reconcile_task,
                network=pairing.litellm_server.network,
                kwargs={"pairing_id": pairing.pk, "repair": repair},
                wait_seconds=RECONCILE_WAIT_SECONDS,
            )
            if not done:
                self.message_user(request, f"{pairing}: reconcile is running; see Drift findings shortly.")
            elif isinstance(result, dict) and "findings" in result:
                found = sum(result["findings"].values())
                self.message_user(
                    request,
                    f"{pairing}: {found} findings, {result['repaired']} repaired "
                    f"({result['list_calls']} LiteLLM list calls).",
                )
            else:
                self.message_user(request, f"{pairing}: reconcile failed: {result}", messages.ERROR)
            self.log_change(request, pairing, "reconcile" + (" and repair" if repair else ""))

    @admin.action(permissions=("change",), description="Reconcile: report drift")
    @confirm_first(
        consequences=[
            "Each pairing's keys in LiteLLM are compared with the portal's; findings are listed, nothing is changed."
        ]
    )
    def reconcile_report(self, request: HttpRequest, queryset: QuerySet[Pairing]) -> None:
        self._reconcile(request, queryset, repair=False)

    @admin.action(permissions=("change",), description="Reconcile and repair what is safe")
    @confirm_first(
        consequences=[
            "Each pairing's keys are compared with LiteLLM's, and what is safe to repair is repaired (keys may be re-pushed into LibreChat or deleted in LiteLLM)."
        ]
    )
    def reconcile_and_repair(self, request: HttpRequest, queryset: QuerySet[Pairing]) -> None:
        self._reconcile(request, queryset, repair=True)


class IdleKeyFilter(admin.SimpleListFilter):
    """People whose key LiteLLM has not seen used (the list's result count says how many)."""

    title = "key last used"
    parameter_name = "idle"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return IDLE_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        condition = idle_condition(self.value() or "", prefix="key__")
        return queryset.filter(condition) if condition is not None else queryset


@admin.register(PersonalKey)
class PersonalKeyAdmin(admin.ModelAdmin):
    # Fits 1366 px: the step under the status, attempts and the next try in one column.
    list_display = ("person", "status_and_step", "key_name", "plan", "last_used", "next_try", "problem")
    list_select_related = ("person", "key", "plan")
    list_filter = ("status", IdleKeyFilter, "pairing")
    search_fields = ("person__email",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    ordering = ("-id",)
    fields = (
        "person",
        "pairing",
        "plan",
        "status",
        "step",
        "key_name",
        "attempts",
        "next_attempt_at",
        "last_error",
        "suspended",
        "rotation_requested_at",
        "rotation_due_at",
        "rotated_at",
        "pushed_at",
        "verified_at",
        "chat_expires_at",
    )
    readonly_fields = tuple(f for f in fields if f != "plan")
    actions = ("rotate_now", "retry_now")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # records start when a LibreChat account is ready

    @admin.display(description="key")
    def key_name(self, obj: PersonalKey) -> str:
        return obj.key.key_name if obj.key else "-"

    @admin.display(description="last used", ordering="key__last_used_at")
    def last_used(self, obj: PersonalKey) -> str:
        return last_used_words(obj.key.last_used_at) if obj.key else "-"

    @admin.display(description="status", ordering="status")
    def status_and_step(self, obj: PersonalKey) -> str:
        if not obj.step:
            return obj.get_status_display()
        return format_html(
            '{}<div class="cell-note">{}</div>', obj.get_status_display(), obj.get_step_display()
        )

    @admin.display(description="next try", ordering="next_attempt_at")
    def next_try(self, obj: PersonalKey) -> str:
        return next_try_words(obj.attempts, obj.next_attempt_at)

    @admin.display(description="problem")
    def problem(self, obj: PersonalKey) -> str:
        return obj.last_error[:120]

    def save_model(self, request: HttpRequest, obj: PersonalKey, form: Any, change: bool) -> None:
        # The plan is the one editable field: a change goes to LiteLLM through the steps.
        if change and "plan" in form.changed_data:
            personal_keys.personal_key_plan_change(record=obj, plan=obj.plan)

    @admin.action(permissions=("change",), description="Rotate the key now")
    @confirm_first(
        consequences=[
            "Each person's key is rotated: a new key is pushed into their LibreChat; the old one works until LibreChat holds the new one, then is deleted."
        ]
    )
    def rotate_now(self, request: HttpRequest, queryset: QuerySet[PersonalKey]) -> None:
        for record in queryset:
            try:
                personal_keys.personal_key_rotate(record=record)
            except personal_keys.RotationRefused as exc:
                self.message_user(request, f"{record.person}: {exc}", messages.WARNING)
                continue
            self.log_change(request, record, "rotation requested")
        self.message_user(request, "Rotation requested; the old key works until LibreChat holds the new one.")

    @admin.action(permissions=("change",), description="Retry now")
    @confirm_first(consequences=["Each person's key's pending step is tried again now."])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[PersonalKey]) -> None:
        for record in queryset:
            personal_keys.personal_key_retry(record=record)
            self.log_change(request, record, "retry requested")
        self.message_user(request, f"{queryset.count()} retried.")


@admin.register(DriftFinding)
class DriftFindingAdmin(ViewOnlyAdmin):
    list_display = (
        "kind",
        "person",
        "short_hash",
        "detail",
        "safe_to_repair",
        "found_at",
        "fixed_at",
        "fix_outcome",
    )
    list_select_related = ("person",)
    list_filter = ("kind", ("fixed_at", admin.EmptyFieldListFilter), "pairing")
    paginator = LargeTablePaginator
    show_full_result_count = False
    ordering = ("-id",)
    actions = ("fix",)

    @admin.display(description="key hash")
    def short_hash(self, obj: DriftFinding) -> str:
        return obj.token_hash[:12]

    def has_fix_permission(self, request: HttpRequest) -> bool:
        # Findings are read-only rows; fixing one changes keys, so it takes the change permission.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(permissions=("fix",), description="Fix the selected findings")
    @confirm_first(
        consequences=[
            "Each finding is fixed as its kind says (a key deleted in LiteLLM, re-pushed, or re-linked); workers carry it out."
        ]
    )
    def fix(self, request: HttpRequest, queryset: QuerySet[DriftFinding]) -> None:
        for finding in queryset.filter(fixed_at__isnull=True):
            outcome = reconcile.drift_fix(finding_id=finding.pk)
            self.log_change(request, finding, f"fixed: {outcome}")
        self.message_user(request, "Fixes recorded; workers carry them out.")


@admin.register(PersonRemoval)
class PersonRemovalAdmin(admin.ModelAdmin):
    list_display = ("email", "status", "step", "detail", "created_at")
    list_filter = ("status",)
    search_fields = ("email",)
    readonly_fields = (
        "email",
        "litellm_server",
        "librechat_server",
        "key_hashes",
        "status",
        "step",
        "detail",
    )
    exclude = ("librechat_password",)
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
