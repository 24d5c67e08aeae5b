"""Invitations that arrive: a mailed link that signs up the invited address, once.

The link carries a random token; the table keeps only its SHA-256 (`token_hash`), so neither
the database nor a backup holds a working link. The raw link exists in two places only: the
mail (the outbox encrypts its body at rest) and the admin page shown once to the staff member
who made it (for a channel the portal cannot mail). Resending makes a new token, which kills
the old link; revoking kills it without a new one.

A link proves the mailbox (it was mailed there), so the person who follows it chooses their
password on the signup form and is verified and approved at once; nothing exists in the
portal or in LibreChat before they do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.litellm.models import KeyPlan
from portal.accounts.addresses import AddressRefused, canonical_email
from portal.accounts.models import Invitation, InvitationImport, User
from portal.accounts.services import person_email_proven
from portal.core import mail

TOKEN_BYTES = 32


class InvitationRefused(Exception):
    """This address cannot be invited now; `str(self)` says why, for staff."""


class InvitationUnusable(Exception):
    """A link that signs nobody up (unknown, used, expired, withdrawn); `str(self)` is the page's
    sentence for the person who opened it."""


class WrongAddress(Exception):
    """The address typed on the invitation's form is not the invited one (compared canonically)."""


@dataclass(frozen=True)
class MadeInvitation:
    invitation: Invitation
    link: str  # shown once to staff right after it is made; never stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_lifetime() -> dt.timedelta:
    return dt.timedelta(days=settings.PORTAL_INVITATION_DAYS)


def invitation_state(invitation: Invitation, *, now: dt.datetime | None = None) -> str:
    """One word for staff and for the link's page: open, used, revoked or expired."""
    if invitation.used_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at is not None and invitation.expires_at <= (now or timezone.now()):
        return "expired"
    return "open"


def open_invitations() -> Any:
    return Invitation.objects.filter(used_at__isnull=True, revoked_at__isnull=True)


# --- staff: make, resend, revoke ------------------------------------------------------------


def invitation_create(
    *,
    email: str,
    accept_url: str,
    name: str = "",
    plan: KeyPlan | None = None,
    invited_by: User | None = None,
    batch: InvitationImport | None = None,
) -> MadeInvitation:
    """Invite `email` and mail the link; `accept_url` is the link's absolute URL with `{token}`
    in it. InvitationRefused when the address already is a person or has an open invitation."""
    try:
        email = canonical_email(email)
    except AddressRefused as refusal:
        raise InvitationRefused(str(refusal)) from None
    invitation = Invitation(
        email=email, name=name.strip()[:150], plan=plan, invited_by=invited_by, batch=batch
    )
    return MadeInvitation(invitation=invitation, link=invitation_issue(invitation, accept_url=accept_url))


@sensitive_variables("token", "link")
def invitation_issue(invitation: Invitation, *, accept_url: str) -> str:
    """Save a new (unsaved) invitation with a fresh token and expiry, mail it; the link.
    InvitationRefused when the address already is a person or has an open invitation."""
    if User.objects.filter(email=invitation.email).exists():
        raise InvitationRefused(f"{invitation.email} already has an account.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation.token_hash = token_hash(token)
    invitation.expires_at = timezone.now() + invitation_lifetime()
    try:
        with transaction.atomic():
            invitation.save()
            return _mail_the_link(invitation, token=token, accept_url=accept_url)
    except IntegrityError:
        # The partial unique constraint: another open invitation for the address won.
        invitation.pk = None
        raise InvitationRefused(
            f"{invitation.email} already has an open invitation (resend it instead)."
        ) from None


@sensitive_variables("token", "link")
def invitation_resend(*, invitation: Invitation, accept_url: str) -> MadeInvitation | None:
    """A new link (the old one stops working) for as long as a new invitation, mailed again.
    None when the invitation was used or revoked: there is nothing to resend."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        locked = open_invitations().select_for_update().filter(pk=invitation.pk).first()
        if locked is None:
            return None
        locked.token_hash = token_hash(token)
        locked.expires_at = timezone.now() + invitation_lifetime()
        locked.save(update_fields=["token_hash", "expires_at"])
        link = _mail_the_link(locked, token=token, accept_url=accept_url)
    return MadeInvitation(invitation=locked, link=link)


def invitation_revoke(*, invitation: Invitation) -> bool:
    """The link stops working; False when it was already used or revoked."""
    return bool(open_invitations().filter(pk=invitation.pk).update(revoked_at=timezone.now()))


@sensitive_variables("token", "link")
def _mail_the_link(invitation: Invitation, *, token: str, accept_url: str) -> str:
    link = accept_url.replace("{token}", token)
    inviter = invitation.invited_by.get_full_name() if invitation.invited_by else ""
    outgoing = mail.invitation(
        email=invitation.email,
        name=invitation.name,
        link=link,
        expires_at=invitation.expires_at,
        inviter=inviter,
    )
    Invitation.objects.filter(pk=invitation.pk).update(mail=outgoing)
    invitation.mail = outgoing
    return link


# --- the person: open the link, sign up -------------------------------------------------------


def invitation_for_token(token: str) -> Invitation:
    """The open invitation the link names, or InvitationUnusable saying why it signs nobody up."""
    found = Invitation.objects.filter(token_hash=token_hash(token)).first() if token else None
    if found is None:
        raise InvitationUnusable(
            "This invitation link is not valid: it was replaced by a newer one, or mistyped. "
            "Use the link in the newest invitation mail, or ask whoever invited you."
        )
    state = invitation_state(found)
    if state == "used":
        raise InvitationUnusable("This invitation was already used. Sign in with the account it made.")
    if state == "revoked":
        raise InvitationUnusable("This invitation was withdrawn. Ask whoever invited you for a new one.")
    if state == "expired":
        assert found.expires_at is not None
        raise InvitationUnusable(
            f"This invitation expired on {found.expires_at:%Y-%m-%d}. Ask whoever invited you to resend it."
        )
    return found


@sensitive_variables("token", "password")
def invitation_accept(*, token: str, email: str, name: str, password: str) -> User:
    """Sign up the invited address with the password its owner chose: verified (the link was
    mailed there) and approved (staff invited them), so their LibreChat account starts now.
    WrongAddress when `email` is not the invited address in canonical form (a look-alike);
    InvitationUnusable when the link is no longer good (or was used a moment ago)."""
    with transaction.atomic():
        invitation = invitation_for_token(token)
        locked = open_invitations().select_for_update().filter(pk=invitation.pk).first()
        if locked is None:
            raise InvitationUnusable("This invitation was already used. Sign in with the account it made.")
        try:
            typed = canonical_email(email)
        except AddressRefused as refusal:
            raise WrongAddress(f"{refusal} This invitation is for {locked.email}.") from None
        if typed != locked.email:
            raise WrongAddress(f"This invitation is for {locked.email}: sign up with that address.")
        already = InvitationUnusable(f"{typed} already has an account: sign in, or reset the password.")
        if User.objects.filter(email=typed).exists():
            raise already
        try:
            with transaction.atomic():  # an ordinary signup of the same address a moment ago
                person = User.objects.create_user(
                    email=typed, password=password, name=name.strip(), approved_at=timezone.now()
                )
        except IntegrityError:
            raise already from None
        locked.used_at = timezone.now()
        locked.save(update_fields=["used_at"])
        person_email_proven(person=person)  # a save: the access app starts their AI access
    return person


def invited_plan(*, person: User) -> KeyPlan | None:
    """The key plan the person's used invitation names; None: the pairing's default."""
    invitation = (
        Invitation.objects.select_related("plan")
        .filter(email=person.email, used_at__isnull=False)
        .filter(~Q(plan=None))
        .order_by("-used_at")
        .first()
    )
    return invitation.plan if invitation is not None else None
