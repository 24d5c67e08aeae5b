"""People. Email is the login, stored in its one canonical form (portal/accounts/addresses.py),
so one address is one row whatever way it was typed (decided in the first migration, because
swapping the user model later is painful)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from portal.accounts.addresses import AddressRefused, canonical_domain, canonical_email
from portal.crypto import EncryptedTextField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Login (site and admin) and createsuperuser find the person under any spelling of
        # their address. An address with no canonical form, or rows left ambiguous by the
        # migration, are no person: a failed login, never MultipleObjectsReturned.
        try:
            email = canonical_email(username or "")
        except AddressRefused:
            raise self.model.DoesNotExist from None
        found = list(self.filter(email=email)[:2])
        if len(found) != 1:
            raise self.model.DoesNotExist
        return found[0]

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=canonical_email(email), **extra)  # AddressRefused is a ValueError
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set")
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    # Always the canonical form (addresses.canonical_email), so unique=True makes one row per
    # address; the Lower() constraint also holds for rows the migration could not canonicalise.
    email = models.EmailField("email address", max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log in to the admin (what they may do there is set by permissions)."
    )
    is_active = models.BooleanField(
        default=True, help_text="Unticking suspends the person instead of deleting them."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    # Nothing is provisioned (no LibreChat account, no AI access) until both are set: the
    # address is proven, and the signup policy (or a staff member) let the person in.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person was let in (by the signup policy or by staff)."
    )

    objects: ClassVar[UserManager] = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = "person"
        verbose_name_plural = "people"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        indexes = [
            models.Index(fields=["email_verified_at", "approved_at"], name="accounts_user_cleared_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = _clean_email(self.email)

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email

    @property
    def is_cleared_for_ai(self) -> bool:
        return self.is_active and self.email_verified_at is not None and self.approved_at is not None


class SignupMode(models.TextChoices):
    OPEN = "open", "open to anyone (with a verified email)"
    DOMAINS = "domains", "only the allowed email domains"
    INVITATION = "invitation", "only invited email addresses"
    APPROVAL = "approval", "anyone may ask; staff approve"
    CLOSED = "closed", "closed"


class SignupPolicy(models.Model):
    """Who may sign up. One row (the admin edits it); absent, signup is by staff approval."""

    mode = models.CharField(max_length=20, choices=SignupMode.choices, default=SignupMode.APPROVAL)
    allowed_domains = models.TextField(
        blank=True, help_text="For 'allowed email domains': one domain per line, e.g. example.com."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "signup policy"
        verbose_name_plural = "signup policy"

    def __str__(self) -> str:
        return SignupMode(self.mode).label

    def clean(self) -> None:
        super().clean()
        refused = []
        for line in self._domain_lines():
            try:
                canonical_domain(line)
            except AddressRefused as refusal:
                refused.append(str(refusal))
        if refused:
            raise ValidationError({"allowed_domains": refused})

    def domains(self) -> set[str]:
        """The allowed domains in canonical form (A-labels); a line that is no domain allows nothing."""
        allowed = set()
        for line in self._domain_lines():
            try:
                allowed.add(canonical_domain(line))
            except AddressRefused:
                continue
        return allowed

    def _domain_lines(self) -> list[str]:
        return [line.strip().lstrip("@") for line in self.allowed_domains.splitlines() if line.strip()]


class Invitation(models.Model):
    """An email address invited to sign up (the invitation policy). Verification still applies:
    only whoever reads that mailbox can finish the signup."""

    email = models.EmailField(max_length=254)
    invited_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(Lower("email"), name="accounts_invitation_email_idx")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Invitations may come from code too (a bulk import): the stored form is always the
        # one signup compares with. AddressRefused (a ValueError) for an address with none.
        self.email = canonical_email(self.email)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.email = _clean_email(self.email)


def _clean_email(email: str) -> str:
    """The canonical form for a model form, refusals as the field's error."""
    if not email:
        return email  # "This field is required" says it already
    try:
        return canonical_email(email)
    except AddressRefused as refusal:
        raise ValidationError({"email": str(refusal)}) from None


# --- one person, one LiteLLM key inside LibreChat (portal/accounts/personal_keys.py) ----------


class Pairing(models.Model):
    """Where a LibreChat server's people get their keys from, and under which endpoint name."""

    librechat_server = models.OneToOneField(
        "librechat.LibreChatServer", on_delete=models.CASCADE, related_name="pairing"
    )
    litellm_server = models.ForeignKey(
        "litellm.LiteLLMServer", on_delete=models.PROTECT, related_name="pairings"
    )
    endpoint_name = models.CharField(
        max_length=100,
        default="LiteLLM",
        help_text="The `name` of the custom endpoint in librechat.yaml whose apiKey is user_provided.",
    )
    default_plan = models.ForeignKey("litellm.KeyPlan", on_delete=models.PROTECT, related_name="pairings")
    litellm_url_for_librechat = models.CharField(
        max_length=500,
        blank=True,
        help_text="LiteLLM as LibreChat's containers reach it (service name and container port), e.g. "
        "http://litellm:4000. Empty: the LiteLLM server's own URL.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
    next_key = models.ForeignKey(
        "litellm.VirtualKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The replacement while a rotation is under way.",
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
        "litellm.LiteLLMServer", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    librechat_server = models.ForeignKey(
        "librechat.LibreChatServer", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
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
        verbose_name = "person removal"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="accounts_removal_due")]

    def __str__(self) -> str:
        return f"removal of {self.email}"
