"""The key plans admin: presets for new keys (editing one changes no key already issued)."""

from __future__ import annotations

import logging

from django.contrib import admin
from django.utils.html import format_html

from integrations.litellm.forms import (
    KeyPlanForm,
)
from integrations.litellm.models import (
    KeyPlan,
    KeyStatus,
)

log = logging.getLogger(__name__)


@admin.register(KeyPlan)
class KeyPlanAdmin(admin.ModelAdmin):
    form = KeyPlanForm
    list_display = (
        "name",
        "max_budget",
        "budget_duration",
        "thresholds_display",
        "models_display",
        "rpm_limit",
        "tpm_limit",
        "rotation_days",
    )
    search_fields = ("name",)
    readonly_fields = ("existing_keys_note",)

    @admin.display(description="alerts at")
    def thresholds_display(self, obj: KeyPlan) -> str:
        return ", ".join(f"{n}%" for n in obj.alert_thresholds or [])

    @admin.display(description="models")
    def models_display(self, obj: KeyPlan) -> str:
        return ", ".join(obj.allowed_models or []) or "all"

    @admin.display(description="keys already issued")
    def existing_keys_note(self, obj: KeyPlan) -> str:
        count = obj.keys.exclude(status=KeyStatus.DELETED).count() if obj.pk else 0
        return format_html(
            "{} key(s) were issued from this plan. Editing the plan does <b>not</b> change them: each key keeps "
            "the limits LiteLLM holds for it. New values apply to keys issued from now on; change an existing "
            "key on its own page.",
            count,
        )
