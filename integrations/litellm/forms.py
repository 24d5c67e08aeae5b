"""Admin forms for LiteLLM: they mirror LiteLLM's own rules so a bad value is a field error
here, not a 400 from the proxy (contract §2.1)."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from integrations.litellm import limits
from integrations.litellm.budget_windows import budget_duration_refusal
from integrations.litellm.client import normalise_base_url
from integrations.litellm.models import (
    MAX_ROTATION_GRACE_MINUTES,
    KeyPlan,
    LiteLLMModel,
    LiteLLMServer,
    VirtualKey,
    alert_thresholds_refusal,
    default_alert_thresholds,
)
from portal.core.validators import validate_network_url

# LiteLLM's durations: 30s, 30m, 30h, 30d, 1w, 1mo (§2.1 budget_duration / duration).
DURATION_RE = re.compile(r"^[1-9][0-9]{0,5}(s|m|h|d|w|mo)$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 31 * 86400}
# LiteLLM adds the duration to now with datetime arithmetic: past year 9999 it fails (a 500 for
# `duration`, a 400 for `budget_duration`; litellm_core_utils/duration_parser.py). A century is
# longer than anyone means and far inside that limit.
MAX_DURATION_SECONDS = 100 * 366 * 86400


def validate_duration(value: str) -> None:
    match = DURATION_RE.fullmatch(value) if value else None
    if value and not match:
        raise ValidationError(
            f"'{value}' is not a LiteLLM duration; use a number and a unit: 30s, 30m, 24h, 30d, 1w, 1mo."
        )
    if match and int(value[: match.start(1)]) * UNIT_SECONDS[match.group(1)] > MAX_DURATION_SECONDS:
        raise ValidationError(f"'{value}' is longer than LiteLLM can handle; at most 100 years.")


def validate_budget_duration(value: str) -> None:
    validate_duration(value)
    # Budget resets by the month exist only for one month (duration_parser._handle_month_reset:
    # "Monthly resets currently only support 1 month intervals"); LiteLLM answers 400 otherwise.
    if value.endswith("mo") and value != "1mo":
        raise ValidationError(f"'{value}': LiteLLM resets budgets monthly only as 1mo.")
    # A key's budget period must survive its rotation (integrations/litellm/budget_windows.py).
    refusal = budget_duration_refusal(value)
    if refusal:
        raise ValidationError(refusal)


def validate_alias(value: str) -> None:
    # LiteLLM refuses path traversal and control characters in aliases (§1, _validate_key_alias_format).
    if any(ord(c) < 32 or ord(c) == 127 for c in value) or ".." in value or "/" in value or "\\" in value:
        raise ValidationError(
            "An alias may not contain control characters, slashes or '..' (LiteLLM refuses them)."
        )


def model_choices(server: LiteLLMServer | None = None) -> list[tuple[str, str]]:
    rows = LiteLLMModel.objects.order_by("model_name")
    if server is not None:
        rows = rows.filter(server=server)
    names = sorted(set(rows.values_list("model_name", flat=True)))
    return [(n, n) for n in names]


def set_allowed_model_choices(form: forms.ModelForm, server: LiteLLMServer | None = None) -> None:
    """The models discovered (on `server`, or on any server), and those the row already allows
    even if no longer discovered (LiteLLM still holds them: unticking must be a choice)."""
    choices = model_choices(server)
    current = [
        (m, m) for m in (getattr(form.instance, "allowed_models", None) or []) if (m, m) not in choices
    ]
    cast(forms.ChoiceField, form.fields["allowed_models"]).choices = choices + current


class BudgetField(forms.DecimalField):
    """A budget in USD: a plain number above 0 that fits the row, or empty; every refusal is a
    sentence naming the field (limits.budget_from_text)."""

    def __init__(self, *, label: str, **kwargs: Any) -> None:
        super().__init__(required=False, label=label, max_digits=12, decimal_places=4, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        try:
            return limits.budget_from_text(str(self.label), "" if value is None else str(value))
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid") from None

    def validate(self, value: Any) -> None:
        pass  # to_python said all there is to say, in words naming the field

    def run_validators(self, value: Any) -> None:
        pass


# ASCII digits only: Python's int() also reads Arabic-Indic or fullwidth digits, which look
# like 80 and are no operator's intent.
_THRESHOLD_RE = re.compile(r"[0-9]{1,3}")


class AlertThresholdsField(forms.CharField):
    """Alert thresholds typed as "80, 100" (a trailing % is fine), kept as [80, 100]; every
    refusal is a sentence (models.alert_thresholds_refusal)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=200, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(n) for n in value)
        return value

    def to_python(self, value: Any) -> list[int]:  # type: ignore[override]
        text = str(value or "").strip()
        if not text:
            return []  # refused by validate() with the same words as the model's
        if len(text) > 200:
            raise ValidationError("Too long: a few percentages from 1 to 100 are enough, e.g. 80, 100.")
        numbers = []
        for part in text.split(","):
            entry = part.strip().removesuffix("%").strip()
            if not entry:
                raise ValidationError(
                    f"An empty entry in '{text[:50]}': separate the percentages by single commas, e.g. 80, 100."
                )
            if not _THRESHOLD_RE.fullmatch(entry):
                raise ValidationError(
                    f"'{entry[:20]}' is not a whole percentage from 1 to 100 (digits 0-9), e.g. 80, 100."
                )
            numbers.append(int(entry))
        return numbers

    def validate(self, value: Any) -> None:
        refusal = alert_thresholds_refusal(value)
        if refusal:
            raise ValidationError(refusal)


def check_budgets(form: forms.BaseForm, cleaned: dict[str, Any]) -> None:
    """The soft budget must come before the max budget (on the form's values after defaults)."""
    problem = limits.soft_budget_problem(cleaned.get("max_budget"), cleaned.get("soft_budget"))
    if problem and "soft_budget" not in form.errors:
        form.add_error("soft_budget", problem)


class _KeyLimitsMixin(forms.ModelForm):
    allowed_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Models discovered on the server (Test connection or Sync); none ticked = all models.",
    )
    max_budget = BudgetField(label="Max budget")
    soft_budget = BudgetField(
        label="Soft budget", help_text="An alert when spend passes it; at most the max budget."
    )
    tpm_limit = forms.IntegerField(
        label="TPM limit", required=False, min_value=1, help_text="Tokens per minute."
    )
    rpm_limit = forms.IntegerField(
        label="RPM limit", required=False, min_value=1, help_text="Requests per minute."
    )
    max_parallel_requests = forms.IntegerField(required=False, min_value=1)
    budget_duration = forms.CharField(required=False, max_length=20, validators=[validate_budget_duration])
    key_alias = forms.CharField(required=False, max_length=255, validators=[validate_alias])

    def _server(self) -> LiteLLMServer | None:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        server = self._server()
        chosen = cleaned.get("allowed_models") or []
        if server is not None and chosen:
            known = {n for n, _ in model_choices(server)}
            unknown = [m for m in chosen if m not in known]
            if unknown:
                self.add_error("allowed_models", f"Not a model of {server}: {', '.join(unknown)}.")
        alias = cleaned.get("key_alias")
        if server is not None and alias:
            clash = VirtualKey.objects.filter(server=server, key_alias=alias).exclude(status="deleted")
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error(
                    "key_alias",
                    "Another key on this server has this alias (LiteLLM requires unique aliases).",
                )
        return cleaned


class KeyCreateForm(_KeyLimitsMixin):
    duration = forms.CharField(
        required=False,
        max_length=20,
        validators=[validate_duration],
        help_text="Key lifetime, e.g. 90d; empty = never expires (or the plan's).",
    )

    class Meta:
        model = VirtualKey
        fields = (
            "server",
            "key_alias",
            "owner",
            "plan",
            *limits.ROW_FIELDS,
            "keep_secret",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_allowed_model_choices(self)
        cast(forms.ModelChoiceField, self.fields["server"]).queryset = LiteLLMServer.objects.all()

    def _server(self) -> LiteLLMServer | None:
        return self.cleaned_data.get("server")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        plan: KeyPlan | None = cleaned.get("plan")
        if plan is not None:
            # Empty fields take the plan's values: the plan is the default, the form can override.
            defaults = dataclasses.asdict(limits.KeyLimits.from_plan(plan))
            for name, value in defaults.items():
                if cleaned.get(name) in (None, "", []) and value not in (None, "", []):
                    cleaned[name] = value
        check_budgets(self, cleaned)
        return cleaned


class KeyChangeForm(_KeyLimitsMixin):
    class Meta:
        model = VirtualKey
        fields = (
            "key_alias",
            "owner",
            *limits.ROW_FIELDS,
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_allowed_model_choices(self, self._server())

    def _server(self) -> LiteLLMServer | None:
        return self.instance.server if self.instance.server_id else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Models LiteLLM already had for this key stay valid even if not discovered.
        if "allowed_models" in self.errors:
            chosen = cleaned.get("allowed_models") or cast(Any, self.data).getlist("allowed_models")
            server = self._server()
            known = {n for n, _ in model_choices(server)} | set(self.instance.allowed_models or [])
            if all(m in known for m in chosen):
                del self.errors["allowed_models"]
                cleaned["allowed_models"] = chosen
        check_budgets(self, cleaned)
        if "max_budget" in self.changed_data:
            # Refused, not warned: a budget below this period's spend stops the key at once,
            # which a block says honestly (and undoes without losing the budget).
            problem = limits.budget_below_spend_problem(cleaned.get("max_budget"), self.instance.spend)
            if problem and "max_budget" not in self.errors:
                self.add_error("max_budget", problem)
        return cleaned


# LiteLLM's field names for the /key/update a change form sends.
CHANGE_FIELD_TO_LITELLM = {"key_alias": "key_alias", "owner": "user_id", **limits.ROW_TO_LITELLM}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url if "://" in url else "http://" + url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


_GRACE_RANGE = (
    f"Rotation grace period: a whole number of minutes from 0 (the old key is deleted at once) "
    f"to {MAX_ROTATION_GRACE_MINUTES} (7 days)."
)


class ServerForm(forms.ModelForm):
    master_key_input = forms.CharField(
        label="Master key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="LITELLM_MASTER_KEY. Stored encrypted; leave empty to keep the current one.",
    )
    rotation_grace_minutes = forms.IntegerField(
        label="Rotation grace period (minutes)",
        required=False,  # empty = 0, the old key deleted at once
        initial=0,
        min_value=0,
        max_value=MAX_ROTATION_GRACE_MINUTES,
        error_messages={
            "required": _GRACE_RANGE,
            "invalid": _GRACE_RANGE,
            "min_value": _GRACE_RANGE,
            "max_value": _GRACE_RANGE,
        },
        help_text=LiteLLMServer._meta.get_field("rotation_grace_minutes").help_text,
    )

    class Meta:
        model = LiteLLMServer
        fields = ("name", "base_url", "network", "rotation_grace_minutes")

    def clean_rotation_grace_minutes(self) -> int:
        return self.cleaned_data.get("rotation_grace_minutes") or 0

    def clean_base_url(self) -> str:
        try:
            url = normalise_base_url(self.cleaned_data["base_url"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        validate_network_url(url)  # also a port that is a number in range, before address_changed()
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.instance.pk and not cleaned.get("master_key_input"):
            self.add_error("master_key_input", "The master key is required.")
        elif self.address_changed() and not cleaned.get("master_key_input"):
            # The stored key was entered for the old address: it must never follow the row to
            # a host somebody typed in later (their own listener would collect it).
            self.add_error(
                "master_key_input",
                "The address changed (scheme, host, port or network): enter the master key of the "
                "server at the new address. The stored key is never sent to a new address.",
            )
        return cleaned

    def address_changed(self) -> bool:
        """Scheme, host, port or network differ from the stored row (a new path does not count)."""
        if not self.instance.pk:
            return False
        old = LiteLLMServer.objects.filter(pk=self.instance.pk).values_list("base_url", "network").first()
        if old is None:
            return False
        new_url = self.cleaned_data.get("base_url", old[0])
        new_network = self.cleaned_data.get("network", old[1])
        return _origin(new_url) != _origin(old[0]) or new_network != old[1]

    def save(self, commit: bool = True) -> LiteLLMServer:
        server = super().save(commit=False)
        if self.address_changed():
            server.master_key = None  # dropped; clean() made sure a new one was entered
        if self.cleaned_data.get("master_key_input"):
            server.master_key = self.cleaned_data["master_key_input"]
        if commit:
            server.save()
        return server


class ModelAddForm(forms.Form):
    server = forms.ModelChoiceField(queryset=LiteLLMServer.objects.all())
    model_name = forms.CharField(max_length=255, help_text="The name clients ask for, e.g. gpt-4o.")
    provider_model = forms.CharField(
        max_length=255, help_text="provider/model, e.g. openai/gpt-4o or ollama/llama3."
    )
    api_key_env = forms.CharField(
        required=False,
        max_length=100,
        label="API key environment variable",
        help_text="The NAME of the variable holding the provider key on the proxy (sent as os.environ/NAME); "
        "the portal never handles provider keys.",
    )
    api_base = forms.CharField(
        required=False,
        label="API base",
        max_length=500,
        validators=[validate_network_url],
        help_text="Where LiteLLM sends this model's requests, with the provider key; setting it takes "
        '"Can change a server\'s address".',
    )

    def __init__(self, *args: Any, may_set_address: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.may_set_address = may_set_address

    def clean_api_base(self) -> str:
        value = self.cleaned_data["api_base"].strip()
        if value and not self.may_set_address:
            # LiteLLM forwards the provider key to api_base: the same rule as a server's address.
            raise ValidationError(
                'Only staff with "Can change a server\'s address" may set an API base: LiteLLM sends '
                "the provider key there. Leave it empty for the provider's own address."
            )
        return value

    def clean_provider_model(self) -> str:
        value = self.cleaned_data["provider_model"].strip()
        if "/" not in value:
            raise ValidationError("Use provider/model, e.g. openai/gpt-4o.")
        return value

    def clean_api_key_env(self) -> str:
        value = self.cleaned_data["api_key_env"].strip()
        if value.startswith("os.environ/"):
            value = value[len("os.environ/") :]
        if value and not ENV_NAME_RE.match(value):
            raise ValidationError("An environment variable name (A-Z, 0-9, _), not a key.")
        return value


class KeyPlanForm(forms.ModelForm):
    allowed_models = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    budget_duration = forms.CharField(required=False, max_length=20, validators=[validate_budget_duration])
    key_duration = forms.CharField(required=False, max_length=20, validators=[validate_duration])
    max_budget = BudgetField(label="Max budget")
    soft_budget = BudgetField(
        label="Soft budget", help_text="An alert when spend passes it; at most the max budget."
    )
    alert_thresholds = AlertThresholdsField(
        label="Budget alerts at (%)",
        initial=default_alert_thresholds,  # a declared field does not take the model's default
        help_text=KeyPlan._meta.get_field("alert_thresholds").help_text,
    )

    class Meta:
        model = KeyPlan
        fields = (
            "name",
            "description",
            *limits.ROW_FIELDS,
            "alert_thresholds",
            "key_duration",
            "rotation_days",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_allowed_model_choices(self)
        if self.is_bound and "alert_thresholds" not in self.data:
            # A post that does not name the field (a script written before it existed) keeps the
            # plan's thresholds; a field sent empty is refused in words.
            current = self.instance.alert_thresholds if self.instance.pk else default_alert_thresholds()
            data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict or a dict: both copy
            data["alert_thresholds"] = ", ".join(str(n) for n in current)
            self.data = data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        check_budgets(self, cleaned)
        return cleaned
