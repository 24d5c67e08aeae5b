"""A person's AI access: which LiteLLM server a LibreChat server's people get their keys from
(Pairing), each person's key and the recorded steps that bring it to its desired state
(PersonalKey), the differences a reconcile run finds (DriftFinding) and what is left to undo
after a person is deleted (PersonRemoval).

These tables were made by portal.accounts; they keep their names (Meta.db_table), so moving
the models to this app rewrote no table (migrations 0001 here and 0005 in accounts change
Django's state only)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from portal.crypto import EncryptedTextField


class Pairing(models.Model):
    """Where a LibreChat server's people get their keys from, and under which endpoint name."""

    librechat_server = models.OneToOneField(
        "librechat.LibreChatServer",
        verbose_name="LibreChat server",
        on_delete=models.CASCADE,
        related_name="pairing",
    )
    litellm_server = models.ForeignKey(
        "litellm.LiteLLMServer",
        verbose_name="LiteLLM server",
        on_delete=models.PROTECT,
        related_name="pairings",
    )
    endpoint_name = models.CharField(
        max_length=100,
        default="LiteLLM",
        help_text="The `name` of the custom endpoint in librechat.yaml whose apiKey is user_provided.",
    )
    default_plan = models.ForeignKey("litellm.KeyPlan", on_delete=models.PROTECT, related_name="pairings")
    litellm_url_for_librechat = models.CharField(
        verbose_name="LiteLLM URL for LibreChat",
        max_length=500,
        blank=True,
        help_text="LiteLLM as LibreChat's containers reach it (service name and container port), e.g. "
        "http://litellm:4000. Empty: the LiteLLM server's own URL.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "accounts_pairing"  # made by portal.accounts before the move (no table rewrite)
        ordering = ("librechat_server__name",)

    def __str__(self) -> str:
        return f"{self.librechat_server} -> {self.litellm_server}"


class PersonalKeyStep(models.TextChoices):
    """The next thing to do for a person's key; each is done once and recorded. Steps run on
    the network queue of the server they talk to (personal_keys.STEP_VENDOR)."""

    IDLE = "", "nothing to do"
    ISSUE = "issue", "make the key in LiteLLM"
    PUSH = "push", "put the key into LibreChat"
    VERIFY_CHAT = "verify_chat", "check LibreChat holds the key"
    VERIFY_KEY = "verify_key", "check LiteLLM has the key active"
    BLOCK = "block", "block the key"
    UNBLOCK = "unblock", "unblock the key"
    UPDATE_LIMITS = "update_limits", "apply the plan's limits"
    ROTATE_ISSUE = "rotate_issue", "rotation: make the new key"
    ROTATE_PUSH = "rotate_push", "rotation: put the new key into LibreChat"
    ROTATE_VERIFY_CHAT = "rotate_verify_chat", "rotation: check LibreChat holds the new key"
    ROTATE_VERIFY_KEY = "rotate_verify_key", "rotation: check LiteLLM has the new key"
    ROTATE_DELETE_OLD = "rotate_delete_old", "rotation: delete the old key"
    ROTATE_RENAME = "rotate_rename", "rotation: give the new key the stable alias"


class PersonalKeyStatus(models.TextChoices):
    WORKING = "working", "being set up"
    READY = "ready", "ready"
    NEEDS_ATTENTION = "needs_attention", "needs attention"


class PersonalKey(models.Model):
    """A person's own LiteLLM virtual key, pushed into their LibreChat account.

    `step` is the next step; a step that is done is never repeated (the key made in LiteLLM is
    named on this row in the same transaction that records it, so a retry finds it)."""

    person = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="personal_key")
    pairing = models.ForeignKey(Pairing, on_delete=models.PROTECT, related_name="personal_keys")
    plan = models.ForeignKey("litellm.KeyPlan", on_delete=models.PROTECT, related_name="personal_keys")
    key = models.ForeignKey(
        "litellm.VirtualKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=PersonalKeyStatus.choices, default=PersonalKeyStatus.WORKING
    )
    step = models.CharField(max_length=30, choices=PersonalKeyStep.choices, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is on the step until then (a crashed one loses it then)."
    )
    last_error = models.TextField(blank=True)
    # Desired state the steps work towards (personal_keys._next_step).
    suspended = models.BooleanField(default=False, help_text="The person is deactivated: the key is blocked.")
    limits_applied = models.BooleanField(default=True)
    rotation_requested_at = models.DateTimeField(null=True, blank=True)
    rotation_due_at = models.DateTimeField(null=True, blank=True)
    # What was seen last.
    pushed_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    chat_expires_at = models.CharField(
        max_length=40, blank=True, help_text="What LibreChat reports for the key: an ISO date or 'never'."
    )
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "accounts_personalkey"
        verbose_name = "personal key"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="accounts_pkey_due", condition=~Q(step="")),
            models.Index(fields=["rotation_due_at"], name="accounts_pkey_rotation_due"),
            models.Index(fields=["status", "-id"], name="accounts_pkey_status_id"),
            models.Index(fields=["pairing", "-id"], name="accounts_pkey_pairing_id"),
        ]

    def __str__(self) -> str:
        return f"key of {self.person}"


class DriftKind(models.TextChoices):
    ORPHAN_KEY = "orphan_key", "key in LiteLLM with the portal's marker but no person's key row"
    PERSON_WITHOUT_KEY = "person_without_key", "person without a key"
    KEY_MISSING = "key_missing", "key the portal holds that LiteLLM lacks"
    CHAT_KEY_MISSING = "chat_key_missing", "LibreChat user key missing"
    CHAT_KEY_EXPIRED = "chat_key_expired", "LibreChat user key expired"
    BLOCKED_BUT_ACTIVE = "blocked_but_active", "blocked in LiteLLM, active in the portal"
    ACTIVE_BUT_SUSPENDED = "active_but_suspended", "active in LiteLLM, suspended in the portal"


class DriftFinding(models.Model):
    """One difference between the portal, LiteLLM and LibreChat found by a reconcile run."""

    pairing = models.ForeignKey(Pairing, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=30, choices=DriftKind.choices)
    person = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True)
    safe_to_repair = models.BooleanField(default=False)
    found_at = models.DateTimeField()
    fixed_at = models.DateTimeField(null=True, blank=True)
    fix_outcome = models.TextField(blank=True)

    class Meta:
        db_table = "accounts_driftfinding"
        verbose_name = "drift finding"
        indexes = [
            models.Index(fields=["pairing", "-id"], name="accounts_drift_pairing_id"),
            models.Index(fields=["kind", "-id"], name="accounts_drift_kind_id"),
            models.Index(fields=["fixed_at"], name="accounts_drift_fixed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.person or self.token_hash[:12]}"


class RemovalStatus(models.TextChoices):
    WORKING = "working", "being removed"
    DONE = "done", "removed"
    STAFF = "staff", "staff must finish it"


class PersonRemoval(models.Model):
    """What is left to undo in LibreChat after a person was deleted from the portal. The person
    row is gone, so this carries what the task needs (never a secret in the task's arguments):
    the LibreChat login, dropped as soon as the account is deleted or staff must take over."""

    email = models.EmailField(max_length=254)
    litellm_server = models.ForeignKey(
        "litellm.LiteLLMServer",
        verbose_name="LiteLLM server",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    librechat_server = models.ForeignKey(
        "librechat.LibreChatServer",
        verbose_name="LibreChat server",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    librechat_password = EncryptedTextField()
    key_hashes = models.JSONField(
        default=list, blank=True, help_text="The LiteLLM keys deleted with the person."
    )
    status = models.CharField(max_length=10, choices=RemovalStatus.choices, default=RemovalStatus.WORKING)
    step = models.CharField(max_length=20, default="keys", help_text="keys, then librechat, then done.")
    detail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "accounts_personremoval"
        verbose_name = "person removal"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="accounts_removal_due")]

    def __str__(self) -> str:
        return f"removal of {self.email}"
