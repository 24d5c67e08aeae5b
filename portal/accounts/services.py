"""People: signup under the admin's policy, email verification and approval, up to the
moment a person is cleared for AI. From there on the access app gives them their LibreChat
account and key (portal/access/provisioning.py lists the whole chain).

Nothing here calls LibreChat from a web request: rows are created and a task on the
LibreChat server's network queue does the calls (DESIGN.md "Running").
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.librechat import accounts as librechat_accounts
from integrations.librechat import sessions as librechat
from integrations.librechat.models import AccountStatus, LibreChatAccount
from portal.accounts.addresses import AddressRefused, canonical_email
from portal.accounts.models import Invitation, SignupMode, SignupPolicy, User
from portal.core import mail

log = logging.getLogger(__name__)

VERIFY_SALT = "portal.accounts.verify-email"
VERIFY_MAX_AGE = dt.timedelta(days=3)


class SignupRefused(Exception):
    """The policy does not let this address in; `str(self)` is shown to the person."""


# --- policy -------------------------------------------------------------------------------


def signup_policy_current() -> SignupPolicy:
    policy = SignupPolicy.objects.order_by("pk").first()
    return policy if policy is not None else SignupPolicy(mode=SignupMode.APPROVAL)


def _invitation_for(email: str) -> Invitation | None:
    now = timezone.now()
    return (
        Invitation.objects.filter(email=email, used_at__isnull=True, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("created_at")
        .first()
    )


def signup_check(*, email: str, policy: SignupPolicy) -> None:
    """Raise SignupRefused when the policy keeps `email` (canonical) out."""
    domain = email.rsplit("@", 1)[-1]
    if policy.mode == SignupMode.CLOSED:
        raise SignupRefused("Signup is closed. Ask the people who run this portal for an account.")
    if policy.mode == SignupMode.DOMAINS and domain not in policy.domains():
        raise SignupRefused(f"Addresses at {domain} cannot sign up here. Use your work address.")
    if policy.mode == SignupMode.INVITATION and _invitation_for(email) is None:
        raise SignupRefused("Signup here is by invitation. Use the address your invitation was sent to.")


# --- signup and verification ----------------------------------------------------------------


@dataclass(frozen=True)
class SignupResult:
    person: User | None  # None when the address was already taken (the person is not told)
    needs_approval: bool


@sensitive_variables("password")
def person_signup(*, email: str, name: str, password: str, verify_url: str) -> SignupResult:
    """Create the person (unverified) and mail the verification link. `verify_url` is the
    absolute URL of the verify page with `{token}` in it."""
    try:
        email = canonical_email(email)
    except AddressRefused as refusal:
        raise SignupRefused(str(refusal)) from None
    policy = signup_policy_current()
    signup_check(email=email, policy=policy)
    needs_approval = policy.mode == SignupMode.APPROVAL
    try:
        with transaction.atomic():
            person = User.objects.create_user(
                email=email,
                password=password,
                name=name.strip(),
                approved_at=None if needs_approval else timezone.now(),
            )
            if policy.mode == SignupMode.INVITATION:
                invitation = _invitation_for(email)
                if invitation is not None:
                    Invitation.objects.filter(pk=invitation.pk).update(used_at=timezone.now())
    except IntegrityError:
        # Already signed up: answer exactly as for a new address, so the form does not tell
        # strangers who has an account; the owner gets a note instead (sent by a worker, so
        # a slow or failing mail server cannot tell the two answers apart either).
        mail.already_registered(email=email)
        return SignupResult(person=None, needs_approval=needs_approval)
    token = verification_token_make(person=person)
    link = verify_url.replace("{token}", token)
    mail.verification(email=person.email, short_name=person.get_short_name(), link=link)
    return SignupResult(person=person, needs_approval=needs_approval)


def verification_resend(*, person: User, verify_url: str) -> bool:
    """A fresh link for a person whose link expired or got lost; False when already verified."""
    if person.email_verified_at is not None:
        return False
    link = verify_url.replace("{token}", verification_token_make(person=person))
    mail.verification(email=person.email, short_name=person.get_short_name(), link=link)
    return True


def verification_token_make(*, person: User) -> str:
    return signing.dumps({"p": person.pk, "e": person.email.lower()}, salt=VERIFY_SALT, compress=True)


def verification_person(*, token: str) -> User | None:
    """The person a verification link names; None when it is forged, expired or stale."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature:
        return None
    person = User.objects.filter(pk=data.get("p")).first()
    if person is None or person.email.lower() != data.get("e"):
        return None  # the address changed since the link was sent
    return person


def person_email_proven(*, person: User) -> None:
    """Mark the address verified, then provision if cleared. Only for whoever proved both the
    mailbox and the password: the link's opener who also typed the signup password (or was
    signed in as the person), or who chose a new password from a link mailed there. A click on
    the link alone proves only the mailbox, and must not activate a password someone else
    chose (account pre-hijacking, issue 11 item 13)."""
    if person.email_verified_at is None:
        # A save, not an UPDATE: the access app sees the person cleared for AI on it and starts
        # their LibreChat account and key (portal/access/provisioning.py).
        person.email_verified_at = timezone.now()
        person.save(update_fields=["email_verified_at"])
        if person.approved_at is None:
            mail.approval_needed(email=person.email)


def people_address_vouched(*, people: QuerySet[User]) -> list[User]:
    """Staff vouch for these people's addresses (people staff created, or whose link got lost).
    That proves the mailbox only: a password chosen before the address was proven may be a
    stranger's (account pre-hijacking, issue 11 item 13), so it is replaced by a random one, which
    also ends the sessions it opened. Returns the people whose password was dropped: they choose
    their own from a reset link mailed to the address."""
    dropped = []
    for person in people.filter(email_verified_at__isnull=True):
        person.set_password(secrets.token_urlsafe(32))  # usable, so the reset link works
        person.email_verified_at = timezone.now()
        person.save(update_fields=["password", "email_verified_at"])
        dropped.append(person)
    return dropped


def person_approve(*, person: User) -> bool:
    """Staff let the person in; their LibreChat account starts once the address is verified
    (portal/access/provisioning.py). True when the person has a LibreChat account (under way)."""
    if person.approved_at is None:
        person.approved_at = timezone.now()
        person.save(update_fields=["approved_at"])  # a save: see person_email_proven
    return LibreChatAccount.objects.filter(person=person).exists()


@dataclass(frozen=True)
class Approval:
    chosen: int
    approved: int  # newly let in (people approved before are left as they were)
    with_account: int  # of everyone chosen: their LibreChat account exists (under way or ready)


def people_approve(*, people: QuerySet[User]) -> Approval:
    """Staff let these people in (the People list's bulk action), one save each so the access
    app starts every newly cleared person's LibreChat account and key (person_approve)."""
    chosen = approved = with_account = 0
    for person in people.order_by("pk"):
        chosen += 1
        was_waiting = person.approved_at is None
        if person_approve(person=person):
            with_account += 1
        approved += was_waiting
    return Approval(chosen=chosen, approved=approved, with_account=with_account)


def people_provision_missing() -> int:
    """Every cleared person without a LibreChat account gets one (admin action). Their keys
    come from the access beat once the accounts are ready (personal_keys.people_start_missing)."""
    created = 0
    people = User.objects.filter(
        is_active=True,
        email_verified_at__isnull=False,
        approved_at__isnull=False,
        librechat_account__isnull=True,
    ).order_by("pk")
    for person in people.iterator(chunk_size=500):
        try:
            with transaction.atomic():
                if librechat_accounts.account_create(person=person) is not None:
                    created += 1
        except IntegrityError:
            # Deleted by someone else meanwhile (the person, or a second click's account).
            log.info("skipped %s: changed while provisioning everyone", person.email)
    return created


@dataclass(frozen=True)
class ProvisioningProgress:
    done: int
    failed: int
    waiting: int
    without_account: int


def provisioning_progress() -> ProvisioningProgress:
    counts = dict(
        LibreChatAccount.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    without = User.objects.filter(
        is_active=True,
        email_verified_at__isnull=False,
        approved_at__isnull=False,
        librechat_account__isnull=True,
    ).count()
    return ProvisioningProgress(
        done=counts.get(AccountStatus.READY, 0),
        failed=counts.get(AccountStatus.NEEDS_ATTENTION, 0),
        waiting=counts.get(AccountStatus.WAITING, 0),
        without_account=without,
    )


# --- logout ---------------------------------------------------------------------------------


def person_logged_out(*, person: Any) -> int:
    """Portal logout ends the person's LibreChat session too."""
    account = LibreChatAccount.objects.select_related("server").filter(person_id=person.pk).first()
    if account is None:
        return 0
    with transaction.atomic():
        return librechat.sessions_revoke(account=account)


def people_waiting_for_approval() -> QuerySet[User]:
    """People who proved their address and wait for staff to let them in (the admin index counts
    them, People filters them; accounts_user_cleared_idx serves both)."""
    return User.objects.filter(is_active=True, email_verified_at__isnull=False, approved_at__isnull=True)
