"""A whole class or team invited from one CSV: preview, confirm, a worker invites everyone.

1. `import_preview` reads the file (portal/accounts/invitation_csv.py) and judges every row:
   a new invitation, already a person, already invited, or refused with its own reason. The
   verdicts are stored on the import row; nothing else is written.
2. `import_confirm` (staff press the button) records that the import is due and wakes a
   worker: `import_run` makes one invitation per "new" row, each mailed through the outbox
   (portal/core/mail.py, which retries a mail server that is down). No account exists before
   its owner follows their link; their LibreChat account then starts as any signup's does,
   through LibreChat's 429 gate (integrations/librechat/gate.py).
3. The beat hands a confirmed import whose worker vanished out again (`imports_due`); a rerun
   skips the rows already invited, so re-running, or re-uploading the file, adds no duplicate.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from integrations.litellm.models import KeyPlan
from portal.accounts import invitations
from portal.accounts.addresses import AddressRefused, canonical_email
from portal.accounts.invitation_csv import CsvRow, csv_rows
from portal.accounts.models import ImportStatus, Invitation, InvitationImport, User
from portal.core.queues import DEFAULT_QUEUE, wake, wake_after_commit
from portal.core.work import ENQUEUE_LEASE, Outcome, WorkResult, claim, hand_out_due
from portal.models import MailStatus

log = logging.getLogger(__name__)

NEW = "new"
PERSON = "person"
INVITED = "invited"
REFUSED = "refused"
VERDICT_WORDS = {
    NEW: "new invitation",
    PERSON: "already a person",
    INVITED: "already invited",
    REFUSED: "refused",
}
CLAIM_RENEW_EVERY = 25  # rows between renewals of the worker's claim while it invites
RUN_TASK = "accounts.invitation_import_run"


# --- 1. preview -----------------------------------------------------------------------------


def import_preview(*, data: bytes, filename: str, uploaded_by: User) -> InvitationImport:
    """Judge every row of the file; FileRefused (one sentence) for a file that cannot be read."""
    rows = csv_rows(data)
    judged = _judge(rows)
    return InvitationImport.objects.create(
        filename=filename[:255],
        uploaded_by=uploaded_by,
        rows=judged,
        to_invite=sum(row["verdict"] == NEW for row in judged),
    )


def _judge(rows: list[CsvRow]) -> list[dict[str, Any]]:
    plans = {plan.name.casefold(): plan for plan in KeyPlan.objects.all()}
    canonical = {row.line: _canonical_or_reason(row.email) for row in rows}
    addresses = {email for email, _ in canonical.values() if email}
    people = set(User.objects.filter(email__in=addresses).values_list("email", flat=True))
    invited = set(invitations.open_invitations().filter(email__in=addresses).values_list("email", flat=True))
    first_line: dict[str, int] = {}
    judged = []
    for row in rows:
        email, refusal = canonical[row.line]
        plan = plans.get(row.plan.casefold()) if row.plan else None
        verdict, reason = NEW, ""
        if refusal:
            verdict, reason = REFUSED, refusal
        elif row.extra_cells:
            verdict, reason = (
                REFUSED,
                "more cells than the header names (put a name with a comma in double quotes)",
            )
        elif email in first_line:
            verdict, reason = REFUSED, f"the same address as line {first_line[email]} (duplicate in the file)"
        elif row.plan and plan is None:
            verdict, reason = REFUSED, f"unknown plan {row.plan!r} (plans: {_plan_names(plans)})"
        elif len(row.name) > 150:
            verdict, reason = REFUSED, "the name is longer than 150 characters"
        elif email in people:
            verdict = PERSON
        elif email in invited:
            verdict = INVITED
        if email and email not in first_line:
            first_line[email] = row.line
        judged.append(
            {
                "line": row.line,
                "email": email or row.email,
                "name": row.name,
                "plan_id": plan.pk if plan else None,
                "plan": plan.name if plan else "",
                "verdict": verdict,
                "reason": reason,
            }
        )
    return judged


def _canonical_or_reason(raw: str) -> tuple[str, str]:
    if not raw:
        return "", "no email address"
    try:
        return canonical_email(raw), ""
    except AddressRefused as refusal:
        return "", f"{refusal} {_foreign_letters(raw)}".strip()


def _foreign_letters(raw: str) -> str:
    """A look-alike reads exactly like the real address on the page: name the letters that differ."""
    foreign = dict.fromkeys(c for c in raw if not c.isascii())
    named = [f"'{c}' is {unicodedata.name(c, 'an unnamed character')} (U+{ord(c):04X})" for c in foreign]
    return f"Not plain Latin: {'; '.join(named[:3])}." if named else ""


def _plan_names(plans: dict[str, KeyPlan]) -> str:
    return ", ".join(sorted(plan.name for plan in plans.values())) or "none yet: leave the column empty"


def verdict_counts(batch: InvitationImport) -> dict[str, int]:
    counts = dict.fromkeys(VERDICT_WORDS, 0)
    for row in batch.rows:
        counts[row["verdict"]] += 1
    return counts


# --- 2. confirm and run -------------------------------------------------------------------------


def import_confirm(*, batch: InvitationImport, accept_url: str) -> bool:
    """Staff confirmed: the import is due now and a worker is woken. False when it was already
    confirmed (a second click, another staff member) or has nobody to invite."""
    with transaction.atomic():
        due = InvitationImport.objects.filter(pk=batch.pk, status=ImportStatus.PREVIEW, to_invite__gt=0)
        confirmed = due.update(
            status=ImportStatus.INVITING,
            confirmed_at=timezone.now(),
            accept_url=accept_url,
            next_attempt_at=timezone.now() + ENQUEUE_LEASE,
        )
        if confirmed:
            wake_after_commit(RUN_TASK, kwargs={"import_id": batch.pk}, queue=DEFAULT_QUEUE)
    return bool(confirmed)


def import_run(*, import_id: int) -> WorkResult:
    """The worker's part: one invitation per new row, skipping rows invited already (a rerun)."""
    if not claim(
        InvitationImport.objects.filter(pk=import_id, status=ImportStatus.INVITING), field="claimed_until"
    ):
        gone = not InvitationImport.objects.filter(pk=import_id, status=ImportStatus.INVITING).exists()
        return WorkResult("invitation_import", import_id, Outcome.GONE if gone else Outcome.BUSY)
    batch = InvitationImport.objects.select_related("uploaded_by").get(pk=import_id)
    made = set(Invitation.objects.filter(batch=batch).values_list("email", flat=True))
    plans = {plan.pk: plan for plan in KeyPlan.objects.all()}
    refused = 0
    for handled, row in enumerate(r for r in batch.rows if r["verdict"] == NEW and r["email"] not in made):
        try:
            invitations.invitation_create(
                email=row["email"],
                accept_url=batch.accept_url,
                name=row["name"],
                plan=plans.get(row["plan_id"]) if row["plan_id"] else None,
                invited_by=batch.uploaded_by,
                batch=batch,
            )
        except invitations.InvitationRefused as refusal:
            refused += 1  # invited or signed up since the preview: the preview's count says so
            log.info("import %s line %s skipped: %s", batch.pk, row["line"], refusal)
        if handled % CLAIM_RENEW_EVERY == 0:  # still on it: keep the claim
            InvitationImport.objects.filter(pk=batch.pk).update(claimed_until=timezone.now() + ENQUEUE_LEASE)
    InvitationImport.objects.filter(pk=batch.pk).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), next_attempt_at=None, claimed_until=None
    )
    return WorkResult("invitation_import", import_id, Outcome.DONE, detail=f"{refused} skipped")


def imports_due(*, limit: int = 20) -> int:
    """The beat: confirmed imports no worker finished (a lost message, a killed worker)."""
    return hand_out_due(
        InvitationImport.objects.filter(status=ImportStatus.INVITING),
        wake=lambda batch: wake(RUN_TASK, kwargs={"import_id": batch.pk}, queue=DEFAULT_QUEUE),
        limit=limit,
    )


# --- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProgress:
    worker_done: bool  # every row handled (a row invited meanwhile elsewhere is skipped)
    to_invite: int
    invited: int
    mails_sent: int
    mails_waiting: int
    mails_failed: int
    signed_up: int
    not_sent_why: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.worker_done and not self.mails_waiting


def import_progress(batch: InvitationImport) -> ImportProgress:
    """Three queries whatever the size: invitations by their mail's status, why some wait, signups."""
    made = Invitation.objects.filter(batch=batch)
    by_status = dict(
        made.values_list("mail__status").annotate(n=Count("pk")).values_list("mail__status", "n")
    )
    why = list(
        made.filter(mail__status=MailStatus.WAITING)
        .exclude(mail__last_error="")
        .values_list("mail__last_error", flat=True)
        .distinct()[:3]
    )
    return ImportProgress(
        worker_done=batch.status == ImportStatus.DONE,
        to_invite=batch.to_invite,
        invited=sum(by_status.values()),
        mails_sent=by_status.get(MailStatus.SENT, 0),
        mails_waiting=by_status.get(MailStatus.WAITING, 0),
        mails_failed=by_status.get(MailStatus.FAILED, 0),
        signed_up=made.filter(used_at__isnull=False).count(),
        not_sent_why=why,
    )
