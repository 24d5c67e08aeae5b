"""LiteLLM servers, their virtual keys and models, and key plans.

Work in flight lives on the rows (DESIGN.md): a key waiting for LiteLLM carries
`pending_action` and `next_attempt_at`; a beat job picks up due rows, so a lost task
message loses nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import ExpressionWrapper, F, Q

from portal.core.validators import validate_network_url
from portal.crypto import EncryptedTextField


class CheckStatus(models.TextChoices):
    UNKNOWN = "unknown", "not checked yet"
    OK = "ok", "reachable"
    FAILED = "failed", "not reachable"
    KEY_REJECTED = "rejected", "answers, master key rejected"


# A week: long enough for any hand-over of a staff key to its users, short enough that the
# budget shared by the old and the new key is not split for long.
MAX_ROTATION_GRACE_MINUTES = 7 * 24 * 60


class LiteLLMServer(models.Model):
    name = models.CharField(max_length=100, unique=True)
    base_url = models.CharField(
        verbose_name="base URL",
        max_length=500,
        validators=[validate_network_url],
        help_text="The proxy's URL as seen from its network, e.g. http://litellm:4000 (a trailing /v1 is fine).",
    )
    network = models.CharField(
        max_length=100,
        default="backend-dev",
        help_text="The Docker network the proxy lives on; calls to it run on that network's queue.",
    )
    master_key = EncryptedTextField(help_text="LITELLM_MASTER_KEY of this proxy.")
    litellm_version = models.CharField(verbose_name="LiteLLM version", max_length=50, blank=True)
    db_status = models.CharField(
        max_length=50, blank=True, help_text="The proxy's own database, as it reports it."
    )
    check_status = models.CharField(max_length=10, choices=CheckStatus.choices, default=CheckStatus.UNKNOWN)
    checked_at = models.DateTimeField(null=True, blank=True)
    check_diagnosis = models.TextField(blank=True)
    keys_synced_at = models.DateTimeField(null=True, blank=True)
    models_synced_at = models.DateTimeField(null=True, blank=True)
    sync_status = models.TextField(blank=True, help_text="The outcome of the last sync, in words.")
    rotation_grace_minutes = models.PositiveIntegerField(
        "rotation grace period (minutes)",
        default=0,
        validators=[
            MaxValueValidator(
                MAX_ROTATION_GRACE_MINUTES,
                "Rotation grace period: at most 10080 minutes (7 days); 0 deletes the old key at once.",
            )
        ],
        help_text="After a staff key is rotated the old key keeps working this long (the two "
        "together never spend past the budget), then it is deleted. 0 = deleted at once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "LiteLLM server"
        # The address is where the master key goes: changing it is its own permission, apart
        # from "change LiteLLM server" (portal/server_address.py).
        permissions = [("change_server_address", "Can change a server's address (where its secrets go)")]

    def __str__(self) -> str:
        return self.name


DEFAULT_ALERT_THRESHOLDS = (80, 100)


def default_alert_thresholds() -> list[int]:
    return list(DEFAULT_ALERT_THRESHOLDS)


def alert_thresholds_refusal(value: object) -> str | None:
    """Why a list of alert thresholds is refused (a sentence for the form), or None. The text
    form reads "80, 100" into a list first (forms.AlertThresholdsField)."""
    example = "Give percentages of the max budget from 1 to 100, ascending, e.g. 80, 100."
    if not isinstance(value, list):
        return f"Thresholds are a list of whole numbers. {example}"
    if not value:
        return f"No thresholds given. {example}"
    # bool is an int to Python: `true` in the JSON is not 1 %.
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        return f"Thresholds are whole numbers. {example}"
    outside = [n for n in value if not 1 <= n <= 100]
    if outside:
        return f"{outside[0]} is outside 1-100. {example}"
    twice = sorted({n for n in value if value.count(n) > 1})
    if twice:
        return f"{twice[0]} is given twice. {example}"
    if value != sorted(value):
        return f"Thresholds out of order ({', '.join(map(str, value))}). {example}"
    return None


class KeyPlan(models.Model):
    """A named preset for keys. Editing a plan does NOT change keys already issued from it:
    each key keeps the values it was created with (LiteLLM holds them per key); a new plan
    value applies to keys issued, or rotated with "apply plan", afterwards."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Allowed model names; empty = all models."
    )
    max_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    budget_duration = models.CharField(max_length=20, blank=True, help_text="Spend reset period, e.g. 30d.")
    soft_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(verbose_name="TPM limit", null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(verbose_name="RPM limit", null=True, blank=True)
    max_parallel_requests = models.PositiveIntegerField(null=True, blank=True)
    key_duration = models.CharField(
        max_length=20, blank=True, help_text="Key lifetime, e.g. 90d; empty = never expires."
    )
    rotation_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rotate keys of this plan after this many days; empty = never."
    )
    # Percentages of the max budget, ascending (budget_alerts.py). Unlike the limits above, read
    # at every sync: editing them applies to the keys already issued from the plan.
    alert_thresholds = models.JSONField(
        default=default_alert_thresholds,
        help_text="Percentages of the max budget at which the person and staff are told, once per "
        "budget period, ascending, e.g. 80, 100. A key with a soft budget is also told when it "
        "passes it. Applies to keys already issued from this plan.",
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        refusal = alert_thresholds_refusal(self.alert_thresholds)
        if refusal:
            raise ValidationError({"alert_thresholds": refusal})


class KeyOrigin(models.TextChoices):
    PORTAL = "portal", "made here"
    FOUND = "found", "found in LiteLLM"


class KeyStatus(models.TextChoices):
    CREATING = "creating", "being created"
    ACTIVE = "active", "active"
    FAILED = "failed", "creation failed"
    MISSING = "missing", "missing from LiteLLM"
    DELETED = "deleted", "deleted"


class KeyAction(models.TextChoices):
    NONE = "", "none"
    CREATE = "create", "create"
    UPDATE = "update", "update"
    BLOCK = "block", "block"
    UNBLOCK = "unblock", "unblock"
    DELETE = "delete", "delete"
    ROTATE = "rotate", "rotate"
    REFRESH = "refresh", "refresh"


class VirtualKey(models.Model):
    # No index of its own: (server, -id) and (server, token_hash) serve every lookup by server,
    # and each index costs the sync's inserts.
    server = models.ForeignKey(LiteLLMServer, on_delete=models.PROTECT, related_name="keys", db_index=False)
    key_alias = models.CharField(max_length=255, blank=True)
    owner = models.CharField(max_length=255, blank=True, help_text="LiteLLM user_id of the key's owner.")
    plan = models.ForeignKey(KeyPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="keys")
    allowed_models = models.JSONField(default=list, blank=True, help_text="Empty = all models.")
    max_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    budget_duration = models.CharField(max_length=20, blank=True)
    soft_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(verbose_name="TPM limit", null=True, blank=True)
    rpm_limit = models.PositiveIntegerField(verbose_name="RPM limit", null=True, blank=True)
    max_parallel_requests = models.PositiveIntegerField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    blocked = models.BooleanField(default=False)
    spend = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    over_budget = models.GeneratedField(
        expression=ExpressionWrapper(
            Q(max_budget__isnull=False) & Q(spend__gte=F("max_budget")), output_field=models.BooleanField()
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # NULL, not "", for "no hash yet": the unique constraint must not see two empty hashes.
    token_hash = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, help_text="LiteLLM's sha256 of the key."
    )
    key_name = models.CharField(max_length=20, blank=True, help_text="sk-...ab12: recognisable, not usable.")
    # Only where the portal must hand the key on later (a person's key pushed into
    # LibreChat), or until the one reveal right after creation / rotation.
    raw_key = EncryptedTextField()
    keep_secret = models.BooleanField(
        default=False, help_text="Keep the raw key (encrypted) after its reveal, to hand it on later."
    )
    # The portal hands this key on itself (a person's key, pushed into LibreChat): a rotation
    # stops after the swap at rotation_step "handover", the old key still working, until the
    # new one has been handed on (integrations.litellm.rotation.rotation_handed_over).
    handed_on = models.BooleanField(
        default=False, help_text="The portal hands this key on; a rotation waits for the hand-over."
    )
    revealed_at = models.DateTimeField(null=True, blank=True)
    # The one reveal belongs to the staff member who created or rotated the key, not to any
    # colleague who happens to open the list first.
    reveal_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    origin = models.CharField(max_length=10, choices=KeyOrigin.choices, default=KeyOrigin.PORTAL)
    status = models.CharField(max_length=10, choices=KeyStatus.choices, default=KeyStatus.CREATING)
    # Work in flight: what LiteLLM still has to be told, and when to try next.
    pending_action = models.CharField(max_length=10, choices=KeyAction.choices, blank=True, default="")
    pending_changes = models.JSONField(default=dict, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Rotation state (integrations.litellm.rotation): the key being replaced and the step reached:
    # "generate" -> ["handover"] -> "delete" -> "rename", "" when no rotation is in flight.
    rotation_step = models.CharField(max_length=20, blank=True)
    rotation_old_hash = models.CharField(max_length=64, blank=True)
    # The replacement's raw key, stored before LiteLLM is asked, so a lost answer is
    # recovered by its hash and a crash never leaves an orphan key nobody can name.
    rotation_new_key = EncryptedTextField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    # While the old and the new key both work (a staff key's grace period, a person's
    # hand-over): the old key's spend at the swap (already on the new key), its sk-...ab12,
    # and when it is deleted. The two keys' max_budgets share what remains of the budget
    # (integrations.litellm.rotation_pair).
    rotation_swap_spend = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    # db_default: the sync inserts rows with the columns it knows (a bulk insert).
    rotation_old_name = models.CharField(max_length=20, blank=True, default="", db_default="")
    rotation_retire_at = models.DateTimeField(null=True, blank=True)
    # When LiteLLM next zeroes the spend (budget_duration): a rotation keeps it.
    budget_reset_at = models.DateTimeField(null=True, blank=True)
    # The spend level (and reset date) up to which the spend history holds this key's spend
    # (spend_history.py). Apart from `spend` because a rotation or an action also refreshes
    # `spend`: the next sync still records what was spent before it. A key the sync adopts
    # starts at its spend then. Empty = a key older than the history: the next sync takes its
    # level as the baseline and records nothing.
    spend_recorded = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True, default=0)
    spend_recorded_reset_at = models.DateTimeField(null=True, blank=True)
    last_action = models.CharField(max_length=10, blank=True)
    last_action_ok = models.BooleanField(null=True)
    last_action_detail = models.TextField(blank=True)
    last_action_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # LiteLLM's last_active, which only its spend writer stamps when the key is used (never its
    # updated_at, which the portal's own /key/update moves). Never moves back to "never": a
    # rotation's replacement starts unused, the person behind it did not.
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When LiteLLM last saw the key used; empty = never."
    )
    # Limits changed in LiteLLM behind the portal's back (integrations.litellm.drift): what
    # LiteLLM enforces, under the row's field names, while the row keeps ours. One difference
    # per key at a time, so it lives on the row: the sync writes it in the same bulk update,
    # and the list shows it without a query per row.
    drift_limits = models.JSONField(
        default=dict, blank=True, help_text="LiteLLM's limits where they differ from the portal's."
    )
    drift_found_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync first found LiteLLM's limits differing from ours."
    )
    # A digest of what LiteLLM last said about the key: the sync compares 16 characters
    # instead of loading and comparing every column of every unchanged row.
    sync_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    litellm_created_at = models.DateTimeField(verbose_name="created in LiteLLM at", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "virtual key"
        constraints = [
            models.UniqueConstraint(
                fields=["server", "token_hash"], name="litellm_key_unique_hash_per_server"
            ),
        ]
        # Every admin filter is indexed and paired with the id the list sorts by. The
        # prefix search indexes (UPPER(col) text_pattern_ops) are PostgreSQL-only: see
        # migrations/0002_search_indexes.py.
        indexes = [
            models.Index(fields=["server", "-id"], name="litellm_key_server_id"),
            models.Index(fields=["owner", "-id"], name="litellm_key_owner_id"),
            models.Index(fields=["blocked", "-id"], name="litellm_key_blocked_id"),
            models.Index(fields=["expires"], name="litellm_key_expires"),
            models.Index(fields=["over_budget", "-id"], name="litellm_key_over_budget_id"),
            models.Index(fields=["status", "-id"], name="litellm_key_status_id"),
            models.Index(
                fields=["next_attempt_at"],
                name="litellm_key_due",
                condition=~Q(pending_action=""),
            ),
            # The beat's look-up of rotations whose grace period needs a turn.
            models.Index(
                fields=["next_attempt_at"],
                name="litellm_key_in_grace",
                condition=Q(rotation_step="grace"),
            ),
            # The idle filter: never used (IS NULL) and last used before a cutoff, with the
            # creation date for keys never used (admin/keys.py IdleFilter).
            models.Index(fields=["last_used_at", "created_at"], name="litellm_key_last_used"),
            models.Index(
                fields=["-id"], name="litellm_key_drift_id", condition=Q(drift_found_at__isnull=False)
            ),
            # The spend page's "near or over budget": keys by the share of their budget used.
            models.Index(
                F("spend") / F("max_budget"), name="litellm_key_budget_used", condition=Q(max_budget__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return self.key_alias or self.key_name or f"key #{self.pk}"

    @property
    def network(self) -> str:
        return self.server.network


class SpendGrain(models.TextChoices):
    HOUR = "hour", "hourly"
    DAY = "day", "daily"


class KeySpend(models.Model):
    """Spend a key added in one hour or one UTC day, as the sync saw it grow (spend_history.py).

    Increments, never levels: a budget reset zeroes LiteLLM's spend and a rotation's
    replacement starts at the old key's spend on the same row, so summing these rows gives a
    series that continues across both and never goes negative."""

    key = models.ForeignKey(VirtualKey, on_delete=models.CASCADE, related_name="spend_history")
    grain = models.CharField(max_length=4, choices=SpendGrain.choices)
    bucket = models.DateTimeField(help_text="Start of the hour or of the UTC day.")
    amount = models.DecimalField(max_digits=14, decimal_places=6)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "grain", "bucket"], name="litellm_keyspend_one_per_bucket"
            ),
        ]
        indexes = [
            # Pruning and "everyone's spend since <date>" read by grain and time.
            models.Index(fields=["grain", "bucket"], name="litellm_keyspend_grain_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.grain} {self.bucket:%Y-%m-%d %H:00}: {self.amount}"


SOFT_BUDGET_THRESHOLD = "soft"


class BudgetAlert(models.Model):
    """One threshold crossed by one key in one budget period (budget_alerts.py).

    The unique row is the fact "this crossing was told": the sync inserts it (ON CONFLICT DO
    NOTHING) in the transaction that saves the spend, so two workers or a re-run sync never
    make a second one. A person's chain of keys is one row (the rotation engine keeps it), and
    a rotation keeps the reset date (budget_windows), so a rotation does not alert again; a
    budget reset starts a new period, which alerts again. Each side (the person's mail, the
    staff alert channels) is handed over once and marked here; the beat picks up the rest."""

    key = models.ForeignKey(VirtualKey, on_delete=models.CASCADE, related_name="budget_alerts")
    # The period is named by the reset that ends it; NULL = a budget that never resets.
    period_reset_at = models.DateTimeField(null=True, blank=True)
    threshold = models.CharField(max_length=8, help_text='A percentage of the max budget, or "soft".')
    limit = models.DecimalField(max_digits=14, decimal_places=6, help_text="The amount crossed.")
    spend = models.DecimalField(max_digits=14, decimal_places=6, help_text="The spend the sync saw.")
    max_budget = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField()
    person_done_at = models.DateTimeField(null=True, blank=True)
    person_detail = models.CharField(max_length=300, blank=True)
    staff_done_at = models.DateTimeField(null=True, blank=True)
    staff_detail = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "period_reset_at", "threshold"],
                name="litellm_budget_alert_once",
                nulls_distinct=False,  # a budget that never resets has one period (PostgreSQL 15+)
            ),
        ]
        indexes = [
            # The beat's look-ups of sides not handed over yet.
            models.Index(fields=["id"], name="litellm_budget_alert_person", condition=Q(person_done_at=None)),
            models.Index(fields=["id"], name="litellm_budget_alert_staff", condition=Q(staff_done_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.key_id}: {self.threshold_label}"

    @property
    def threshold_label(self) -> str:
        return (
            "the soft budget"
            if self.threshold == SOFT_BUDGET_THRESHOLD
            else f"{self.threshold}% of the budget"
        )


class KeySpendWindow(models.Model):
    """What a key spent in the last 30 or 90 days, summed from its daily history by the beat
    (spend_windows.py) so that the admin's spend page reads one row per key, never millions
    of history rows: top spenders come off the (days, -amount) index."""

    key = models.ForeignKey(VirtualKey, on_delete=models.CASCADE, related_name="+")
    days = models.PositiveSmallIntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=6)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "spend"
        verbose_name_plural = "spend"
        constraints = [
            models.UniqueConstraint(fields=["key", "days"], name="litellm_spendwindow_one_per_key"),
        ]
        indexes = [models.Index(fields=["days", "-amount"], name="litellm_spendwindow_top")]

    def __str__(self) -> str:
        return f"{self.key_id} last {self.days} days: {self.amount}"


class ModelSource(models.TextChoices):
    CONFIG = "config", "config file"
    DATABASE = "db", "database"


class LiteLLMModel(models.Model):
    server = models.ForeignKey(LiteLLMServer, on_delete=models.CASCADE, related_name="llm_models")
    model_name = models.CharField(max_length=255)
    provider_model = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=ModelSource.choices, default=ModelSource.CONFIG)
    model_id = models.CharField(verbose_name="model ID", max_length=255)
    litellm_params = models.JSONField(
        verbose_name="LiteLLM params",
        default=dict,
        blank=True,
        help_text="As LiteLLM shows them (secrets removed).",
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("server", "model_name")
        verbose_name = "LiteLLM model"
        constraints = [
            models.UniqueConstraint(fields=["server", "model_id"], name="litellm_model_unique_id_per_server")
        ]

    def __str__(self) -> str:
        return self.model_name
