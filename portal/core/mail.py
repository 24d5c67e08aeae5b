"""Every mail the portal sends goes through here: one function per message, one outbox.

A message becomes an OutgoingMail row; once the row is committed a worker is woken to send
it, so nobody's request waits for a mail server (one that accepts and never answers hung
signup forever). The row is the source of truth: a broker that is down loses nothing, the
beat job `portal: send due mail` picks up what is due, a failure is retried with backoff
(EMAIL_TIMEOUT bounds each try) and shown to staff in Admin → Outgoing mail.

Django's own error mails to ADMINS are the one exception: they report that the portal is
broken, possibly its database too, so they cannot wait in a table.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from portal.core.queues import DEFAULT_QUEUE, wake
from portal.core.work import ENQUEUE_LEASE, RetryPolicy, hand_out_due, take_locked
from portal.models import MailStatus, OutgoingMail

log = logging.getLogger(__name__)

# A woken worker has this long to send before the beat hands the row out again.
SEND_LEASE = ENQUEUE_LEASE
# About six hours of tries; then staff see "failed (gave up)".
RETRY = RetryPolicy(base_seconds=30, cap_seconds=60 * 60, max_attempts=12)
BACKOFF_BASE_SECONDS = RETRY.base_seconds
MAX_ATTEMPTS = RETRY.max_attempts


# --- the messages ---------------------------------------------------------------------------


def verification(*, email: str, short_name: str, link: str) -> OutgoingMail:
    body = render_to_string("accounts/email/verify_email.txt", {"name": short_name, "link": link})
    return _queue("verify_email", [email], "Confirm your email address", body)


def invitation(
    *, email: str, name: str, link: str, expires_at: dt.datetime | None, inviter: str
) -> OutgoingMail:
    """The invitation link (portal/accounts/invitations.py): it signs up this address, once."""
    context = {"name": name, "link": link, "expires_at": expires_at, "inviter": inviter}
    body = render_to_string("accounts/email/invitation.txt", context)
    return _queue("invitation", [email], "You are invited to the AI portal", body)


def already_registered(*, email: str) -> OutgoingMail:
    body = render_to_string("accounts/email/already_registered.txt", {"email": email})
    return _queue("already_registered", [email], "You already have an account", body)


def password_reset(*, email: str, subject: str, body: str) -> OutgoingMail:
    """Django's reset form renders the message (its templates and token); we only send it."""
    return _queue("password_reset", [email], subject, body)


def approval_needed(*, email: str) -> OutgoingMail | None:
    return to_staff(
        f"{email} asks to join",
        f"{email} signed up and confirmed their address. Approve them in the admin (People).\n",
        kind="approval_needed",
    )


def librechat_account_needs_attention(*, email: str, error: str, account_id: int) -> OutgoingMail | None:
    """Provisioning a person's LibreChat account hit a cause no retry fixes (sent once per problem)."""
    return to_staff(
        f"LibreChat account for {email} needs attention",
        f"{error}\n\nThe account in the admin: /admin/librechat/librechataccount/{account_id}/change/\n",
    )


def librechat_admin_role(*, email: str, server_name: str) -> OutgoingMail | None:
    """LibreChat made the portal's account of a person its ADMIN (the first account registered)."""
    return to_staff(
        f"LibreChat made {email} its ADMIN",
        f"LibreChat gives the ADMIN role to the first account ever registered, and that was the "
        f"portal's account for {email} on {server_name}. The operator should own "
        "LibreChat's admin account: create your own admin account in LibreChat first (or change the "
        "role in LibreChat's database), and check who should hold it.\n",
    )


def personal_key_needs_attention(*, email: str, record_id: int, problem: str) -> OutgoingMail | None:
    """A person's key needs staff (portal.access): once per problem, the row keeps the rest."""
    return to_staff(
        f"The AI key of {email} needs attention",
        f'{problem}\n\nIn the admin: /admin/access/personalkey/{record_id}/change/ (then "Retry now").\n',
    )


def to_staff(subject: str, body: str, *, kind: str = "staff_alert") -> OutgoingMail | None:
    """A note to every active staff member and PORTAL_ADMIN_EMAILS; None when there is nobody."""
    recipients = staff_recipients()
    if not recipients:
        log.warning("no staff email address to send %r to (set PORTAL_ADMIN_EMAILS)", subject)
        return None
    return _queue(kind, recipients, subject, body)


def budget_alert(*, email: str, subject: str, body: str) -> OutgoingMail:
    """A person's key crossed a budget alert threshold (portal/access/budget_mail.py)."""
    return _queue("budget_alert", [email], subject, body)


def alert(*, recipients: list[str], subject: str, body: str) -> OutgoingMail:
    """A connectivity alert to an email channel's recipients."""
    return _queue("alert", recipients, subject, body)


def staff_recipients() -> list[str]:
    people = get_user_model().objects.filter(is_staff=True, is_active=True).values_list("email", flat=True)
    return sorted({*(email for _, email in settings.ADMINS), *people})


# --- the outbox -----------------------------------------------------------------------------


def _queue(kind: str, to: list[str], subject: str, body: str) -> OutgoingMail:
    # One line: a subject that carries a newline would be refused by Django at send time.
    subject = " ".join(subject.split())[:300]
    mail = OutgoingMail.objects.create(
        kind=kind, to=list(to), subject=subject, body=body, next_attempt_at=timezone.now() + SEND_LEASE
    )
    mail_wake(mail)
    return mail


def mail_wake(mail: OutgoingMail) -> None:
    """Wake a worker once the row is committed (never before: it would not find the row)."""
    transaction.on_commit(partial(wake, "portal.mail_send", kwargs={"mail_id": mail.pk}, queue=DEFAULT_QUEUE))


def mail_send(*, mail_id: int) -> str:
    """Send one waiting mail (the task's work). The row stays locked while the server talks,
    so a beat hand-out and a woken worker never both send it."""
    with transaction.atomic():
        mail = take_locked(OutgoingMail.objects.filter(pk=mail_id, status=MailStatus.WAITING))
        if mail is None:
            return "gone"  # sent already, given up, or another worker holds it
        mail.attempts += 1
        try:
            EmailMessage(mail.subject, mail.body.reveal(), None, mail.to).send()
        except Exception as exc:  # smtplib, socket, TLS: each fails its own way
            mail.last_error = _error_words(exc)
            if RETRY.exhausted(mail.attempts):
                mail.status = MailStatus.FAILED
                mail.next_attempt_at = None
                log.error(
                    "mail %s (%s) given up after %s attempts: %s",
                    mail.pk,
                    mail.kind,
                    mail.attempts,
                    mail.last_error,
                )
            else:
                mail.next_attempt_at = RETRY.next_attempt_at(mail.attempts)
                log.warning("mail %s (%s) not sent, retried later: %s", mail.pk, mail.kind, mail.last_error)
            outcome = "retry" if mail.status == MailStatus.WAITING else "failed"
        else:
            mail.status = MailStatus.SENT
            mail.sent_at = timezone.now()
            mail.next_attempt_at = None
            mail.last_error = ""
            outcome = "sent"
        mail.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"])
    return outcome


def mails_send_due(*, limit: int = 500) -> int:
    """The beat job: hand every waiting mail whose next attempt is due to a worker."""
    return hand_out_due(
        OutgoingMail.objects.filter(status=MailStatus.WAITING), wake=mail_wake, limit=limit, lease=SEND_LEASE
    )


def mails_retry(*, mails: QuerySet[OutgoingMail]) -> int:
    """The admin's "Send again now": failed or waiting rows become due and a worker is woken."""
    count = 0
    for mail in mails.exclude(status=MailStatus.SENT):
        OutgoingMail.objects.filter(pk=mail.pk).exclude(status=MailStatus.SENT).update(
            status=MailStatus.WAITING, next_attempt_at=timezone.now() + SEND_LEASE
        )
        mail_wake(mail)
        count += 1
    return count


def _error_words(exc: Exception) -> str:
    """What staff read on the row. The exception names the server's answer or the socket's
    failure, never our credentials (smtplib does not echo the password)."""
    words = str(exc).strip() or "no answer"
    # smtplib turns a read that timed out into SMTPServerDisconnected; the timeout is its context.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        words = f"the mail server did not answer within {settings.EMAIL_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {words}"[:500]
