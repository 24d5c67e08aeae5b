"""A whole class or team from one CSV: how long staff wait for the preview, and for everyone's
invitation to be sent.

1. A 1,000-row `email,name,plan` file (ten rows bad) uploaded through the admin, to the preview
   page rendered with every row's verdict: seconds (goal: a few seconds).
2. Confirm, to every invitation made and its mail sent by one real worker (Django's locmem
   mail backend, so the figure is the portal's own work, not a mail server's): seconds, and
   mails per second.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from bench import size

ROWS = size(1000, 50)
BAD_EVERY = 100  # one row in a hundred is refused (a malformed address)
DOMAIN = "bench-invitations.example"


def run() -> None:
    from django.test import Client

    from portal.accounts.models import User

    _cleanup()
    staff, _ = User.objects.get_or_create(
        email=f"staff@{DOMAIN}", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(staff)
    data = _csv(uuid.uuid4().hex[:8])
    try:
        page, preview_seconds = _preview(client, data)
        print(
            f"invitations: rows={ROWS} upload_to_preview={preview_seconds:.2f}s (goal: seconds)", flush=True
        )
        sent_seconds = _confirm_and_send(client, page)
        print(
            f"invitations: rows={ROWS} confirm_to_all_mails_sent={sent_seconds:.2f}s "
            f"mails_per_second={_new_rows() / sent_seconds:.0f} (locmem mail backend, one worker)",
            flush=True,
        )
    finally:
        _cleanup()


def _new_rows() -> int:
    return ROWS - ROWS // BAD_EVERY


def _csv(run_id: str) -> bytes:
    lines = ["email,name,plan"]
    for n in range(ROWS):
        address = f"not-an-address-{n}" if n % BAD_EVERY == BAD_EVERY - 1 else f"p{run_id}-{n}@{DOMAIN}"
        lines.append(f"{address},Bench Person {n},")
    return ("\n".join(lines) + "\n").encode()


def _preview(client: Any, data: bytes) -> tuple[str, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    started = time.perf_counter()
    answer = client.post(
        "/admin/accounts/invitation/import/", {"file": SimpleUploadedFile("class.csv", data)}
    )
    assert answer.status_code == 302, answer.content[:500]
    page = answer["Location"]
    shown = client.get(page)
    elapsed = time.perf_counter() - started
    assert f"Invite {_new_rows()} people".encode() in shown.content, shown.content[:500]
    return page, elapsed


def _confirm_and_send(client: Any, page: str) -> float:
    from portal.accounts.models import Invitation
    from portal.models import MailStatus
    from tests.workers import CeleryWorker

    worker = CeleryWorker(
        database_url=os.environ["DATABASE_URL"],
        broker_url=os.environ["REDIS_URL"],
        queues=["default"],
        concurrency=2,
        extra_env={"EMAIL_URL": "memorymail://"},
    )
    worker.start()
    try:
        mine = Invitation.objects.filter(email__endswith=f"@{DOMAIN}")
        started = time.perf_counter()
        assert client.post(page).status_code == 302
        deadline = time.monotonic() + 600
        while mine.filter(mail__status=MailStatus.SENT).count() < _new_rows():
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all sent in 600 s; worker log:\n{worker.log()[-3000:]}")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        worker.stop()


def _cleanup() -> None:
    from portal.accounts.models import Invitation, InvitationImport
    from portal.models import OutgoingMail

    mine = Invitation.objects.filter(email__endswith=f"@{DOMAIN}")
    OutgoingMail.objects.filter(pk__in=mine.values("mail_id")).delete()
    mine.delete()
    InvitationImport.objects.filter(uploaded_by__email=f"staff@{DOMAIN}").delete()
