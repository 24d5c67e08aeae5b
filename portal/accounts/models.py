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
        "staff status",
        default=False,
        help_text="Can log in to the admin (what they may do there is set by permissions).",
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Unticking suspends the person instead of deleting them."
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
            # Only the people waiting for approval (a few among millions): the admin index counts
            # them on every render and People filters them (services.people_waiting_for_approval).
            models.Index(
                fields=["-date_joined"],
                condition=Q(email_verified_at__isnull=False, approved_at__isnull=True),
                name="accounts_user_waiting_idx",
            ),
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
    # The same value on every row, unique: the database itself refuses a second policy, so two
    # staff saving the first one at the same moment leave one row (the admin tells the loser).
    singleton = models.BooleanField(default=True, editable=False)

    class Meta:
        verbose_name = "signup policy"
        verbose_name_plural = "signup policy"
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="accounts_signuppolicy_one_row"),
            models.CheckConstraint(
                condition=models.Q(singleton=True), name="accounts_signuppolicy_singleton"
            ),
        ]

    def __str__(self) -> str:
        return SignupMode(self.mode).label

    def clean(self) -> None:
        super().clean()
        lines = self._domain_lines()
        refused = [sentence for line in lines if (sentence := allowed_domain_refusal(line))]
        if refused:
            raise ValidationError({"allowed_domains": refused})
        if self.mode == SignupMode.DOMAINS and not lines:
            raise ValidationError(
                {"allowed_domains": "List at least one domain: with none, nobody can sign up in this mode."}
            )

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


def allowed_domain_refusal(line: str) -> str:
    """Why `line` (one line of the allowed domains) is no domain people's addresses can be at,
    naming it; "" when it is one. Canonical as addresses.py makes it (look-alikes refused), and
    a name of two labels or more whose last is no number: "localhost", "com" or an IP address
    would be allowed silently but no mailbox lives there."""
    if any(sign in line for sign in ("://", "@", "/", " ", ",", ";")):
        return (
            f"{line!r} is not a domain name: write the domain alone, one per line, "
            "e.g. example.com (no https://, @, path, spaces or commas)."
        )
    try:
        domain = canonical_domain(line)
    except AddressRefused as refusal:
        return str(refusal)
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return f"{line!r} is not a full domain name: write it with its ending, e.g. example.com."
    return ""


class Invitation(models.Model):
    """An email address invited to sign up, and the link that signs it up (portal/accounts/
    invitations.py). The link carries a random token; only its SHA-256 is stored, so the table
    (a backup, a read-only replica) never holds a working link. One open invitation per address
    (the partial constraint below): re-inviting or re-importing an address adds no second row."""

    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=150, blank=True, help_text="Filled in on the signup form.")
    plan = models.ForeignKey(
        "litellm.KeyPlan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitations",
        help_text="The person's key plan. Empty: the pairing's default plan.",
    )
    invited_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the link's token (hex); empty for an allow-list row made before links existed.
    token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    # The last invitation mail: its row in the outbox says sent, or not yet and why (it retries).
    mail = models.ForeignKey(
        "portal.OutgoingMail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        "accounts.InvitationImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations",
    )

    class Meta:
        indexes = [
            models.Index(Lower("email"), name="accounts_invitation_email_idx"),
            models.Index(fields=["token_hash"], name="accounts_invitation_token_idx"),
            models.Index(fields=["-created_at"], name="accounts_invitation_new_idx"),
            # The admin's search by how an address starts (LIKE 'ann%' needs the pattern opclass).
            models.Index(
                fields=["email"], name="accounts_invitation_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                "email",
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="accounts_invitation_one_open",
            )
        ]

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


class ImportStatus(models.TextChoices):
    PREVIEW = "preview", "previewed, not confirmed"
    INVITING = "inviting", "inviting (a worker is on it)"
    DONE = "done", "done"


class InvitationImport(models.Model):
    """One uploaded CSV of people to invite (portal/accounts/invitation_import.py): its preview,
    row by row, and after staff confirm, the invitations a worker makes from it."""

    filename = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.SET_NULL, related_name="invitation_imports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # [{"line", "email", "name", "plan_id", "plan", "verdict", "reason"}, ...]: the preview.
    rows = models.JSONField(default=list)
    to_invite = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PREVIEW)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Where the links point (the admin's own address when staff confirmed; no secret).
    accept_url = models.CharField(max_length=500, blank=True)
    # The beat hands a confirmed import out again when no worker finished it by then; a worker
    # holds it until claimed_until (portal/core/work.py).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "invitation import (CSV)"
        verbose_name_plural = "invitation imports (CSV)"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="accounts_import_due_idx")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.created_at:%Y-%m-%d %H:%M})"


def _clean_email(email: str) -> str:
    """The canonical form for a model form, refusals as the field's error."""
    if not email:
        return email  # "This field is required" says it already
    try:
        return canonical_email(email)
    except AddressRefused as refusal:
        raise ValidationError({"email": str(refusal)}) from None
