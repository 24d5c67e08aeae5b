"""A class or team invited from one CSV: a file the portal cannot read gets one sentence; each
row of one it can read gets its verdict; confirming makes the invitations in a real worker; the
same file again adds nobody."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from integrations.litellm.models import KeyPlan
from portal.accounts import invitation_import, invitations
from portal.accounts.invitation_csv import MAX_BYTES, FileRefused, csv_rows
from portal.accounts.models import ImportStatus, Invitation, InvitationImport, User
from portal.models import MailStatus, OutgoingMail
from tests.workers import CeleryWorker, wait_for

LOOK_ALIKE = "\u0430nn@example.com"  # a Cyrillic "a"


def thirty_rows_three_bad() -> bytes:
    good = [f"student{n}@school.example,Student {n}," for n in range(27)]
    bad = ["not-an-address,Nobody,", f"{LOOK_ALIKE},Look Alike,", "student3@SCHOOL.example,Twice,"]
    return ("email,name,plan\n" + "\n".join(good[:10] + bad + good[10:]) + "\n").encode()


# --- files the portal cannot read ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("email,name\nZoë@example.com,Zoë\n".encode("latin-1"), "not UTF-8"),
        (b"email;name;plan\nann@example.com;Ann;\n", "separated by semicolons"),
        (b"email\tname\nann@example.com\tAnn\n", "separated by tabs"),
        (b"ann@example.com,Ann,\nbob@example.com,Bob,\n", "The first line must be the header"),
        (b"email,name,password\nann@example.com,Ann,secret\n", "'password'"),
        (b"email,email\nann@example.com,ann@example.com\n", "twice"),
        (b"", "empty"),
        (b"email,name,plan\n\n", "no rows"),
        (b"email,name\n" + b"x" * MAX_BYTES, "the limit is 1,000,000 bytes"),
        (b'email,name\nann@example.com,"Ann\n', "not valid CSV"),
    ],
)
def test_a_file_the_portal_cannot_read_gets_one_sentence(data: bytes, says: str) -> None:
    with pytest.raises(FileRefused, match=says):
        csv_rows(data)


def test_a_byte_order_mark_and_windows_line_ends_are_fine() -> None:
    rows = csv_rows("\ufeffEmail,Name\r\nann@example.com,Ann\r\n\r\n".encode())
    assert [(r.line, r.email, r.name, r.plan) for r in rows] == [(2, "ann@example.com", "Ann", "")]


# --- the preview --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_row_gets_its_own_verdict(make_person: Any) -> None:
    staff = make_person("staff@example.com", is_staff=True)
    KeyPlan.objects.create(name="students")
    make_person("bob@example.com")
    invitations.invitation_create(email="cy@example.com", accept_url="http://x/{token}/")
    data = "\n".join(
        [
            "email,name,plan",
            "ann@example.com,Ann,",
            "BOB@example.com,Bob,",
            "cy@example.com,Cy,",
            "dee@example.com,Dee,Students",
            "eve@example.com,Eve,gold",
            "not an address,X,",
            f"{LOOK_ALIKE},Y,",
            "Ann@Example.com,Ann again,",
            "fay@example.com,Fay, Jr.,",
            ",No address,",
        ]
    ).encode()
    batch = invitation_import.import_preview(data=data, filename="class.csv", uploaded_by=staff)
    verdicts = {row["line"]: (row["verdict"], row["reason"]) for row in batch.rows}
    assert verdicts[2] == ("new", "")
    assert verdicts[3] == ("person", "")
    assert verdicts[4] == ("invited", "")
    assert verdicts[5] == ("new", "") and batch.rows[3]["plan"] == "students"
    assert verdicts[6][0] == "refused" and "unknown plan 'gold' (plans: students)" in verdicts[6][1]
    assert verdicts[7] == ("refused", "Enter a valid email address.")
    assert verdicts[8][0] == "refused" and "plain Latin letters" in verdicts[8][1]
    assert "CYRILLIC SMALL LETTER A (U+0430)" in verdicts[8][1]
    assert verdicts[9] == ("refused", "the same address as line 2 (duplicate in the file)")
    assert verdicts[10][0] == "refused" and "double quotes" in verdicts[10][1]
    assert verdicts[11] == ("refused", "no email address")
    assert batch.to_invite == 2
    assert not User.objects.filter(email__in=["ann@example.com", "dee@example.com"]).exists()
    assert Invitation.objects.count() == 1  # a preview writes no invitation


# --- the admin pages and a real worker ---------------------------------------------------------


@pytest.fixture
def staff_client(make_person: Any) -> Client:
    client = Client()
    client.force_login(make_person("staff@example.com", is_staff=True, is_superuser=True))
    return client


def upload(client: Client, data: bytes, name: str = "class.csv") -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/admin/accounts/invitation/import/", {"file": SimpleUploadedFile(name, data)})


@pytest.mark.django_db(transaction=True)
def test_confirming_invites_everyone_in_a_worker_and_the_same_file_adds_nobody(
    staff_client: Client, start_worker: Callable[[], CeleryWorker]
) -> None:
    answer = upload(staff_client, thirty_rows_three_bad())
    assert answer.status_code == 302
    preview = staff_client.get(answer.url).content.decode()
    assert "Invite 27 people" in preview
    assert "Enter a valid email address." in preview and "plain Latin letters" in preview
    assert "the same address as line 5" in preview
    assert not Invitation.objects.exists() and not OutgoingMail.objects.exists()

    worker = start_worker()
    staff_client.post(answer.url)
    batch = InvitationImport.objects.get()
    wait_for(
        lambda: OutgoingMail.objects.filter(kind="invitation", status=MailStatus.SENT).count() == 27,
        worker,
        seconds=60,
    )
    batch.refresh_from_db()
    assert batch.status == ImportStatus.DONE
    assert (
        Invitation.objects.filter(batch=batch).count() == 27
        and not User.objects.exclude(is_staff=True).exists()
    )
    progress = staff_client.get(answer.url).content.decode()
    assert "27 of 27" in progress and "Done" in progress

    again = upload(staff_client, thirty_rows_three_bad())
    second = InvitationImport.objects.get(pk=int(again.url.rstrip("/").rsplit("/", 1)[-1]))
    assert second.to_invite == 0 and invitation_import.verdict_counts(second)["invited"] == 27
    assert "Nobody to invite from this file" in staff_client.get(again.url).content.decode()
    assert staff_client.post(again.url).status_code == 302  # a confirm of nothing does nothing
    second.refresh_from_db()
    assert second.status == ImportStatus.PREVIEW
    assert Invitation.objects.count() == 27 and OutgoingMail.objects.count() == 27


@pytest.mark.django_db
def test_a_bad_file_gets_its_sentence_on_the_upload_page(staff_client: Client) -> None:
    answer = upload(staff_client, b"email;name\nann@example.com;Ann\n")
    assert answer.status_code == 200
    assert "separated by semicolons" in answer.content.decode()
    assert not InvitationImport.objects.exists()


@pytest.mark.django_db
def test_a_rerun_of_an_import_invites_nobody_twice(
    make_person: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A worker killed mid-import: the beat hands it out again, and the rerun skips who is invited."""
    staff = make_person("staff@example.com", is_staff=True)
    data = b"email\n" + b"\n".join(f"p{n}@example.com".encode() for n in range(5))
    batch = invitation_import.import_preview(data=data, filename="team.csv", uploaded_by=staff)
    with django_capture_on_commit_callbacks():
        assert invitation_import.import_confirm(batch=batch, accept_url="http://x/{token}/")
    assert not invitation_import.import_confirm(batch=batch, accept_url="http://x/{token}/")  # a second click
    invitations.invitation_create(
        email="p0@example.com", accept_url="http://x/{token}/", batch=batch
    )  # the killed worker's first row
    assert invitation_import.import_run(import_id=batch.pk).outcome == "done"
    assert Invitation.objects.filter(batch=batch).count() == 5
    assert invitation_import.import_run(import_id=batch.pk).outcome == "gone"  # done already
    assert Invitation.objects.count() == 5


@pytest.mark.django_db
def test_a_confirmed_import_no_worker_finished_is_handed_out_again(make_person: Any, settings: Any) -> None:
    import datetime as dt

    from django.utils import timezone

    staff = make_person("staff@example.com", is_staff=True)
    batch = invitation_import.import_preview(
        data=b"email\na@example.com\n", filename="a.csv", uploaded_by=staff
    )
    invitation_import.import_confirm(batch=batch, accept_url="http://x/{token}/")
    assert invitation_import.imports_due() == 0  # its wake-up is still in flight
    InvitationImport.objects.filter(pk=batch.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert invitation_import.imports_due() == 1


@pytest.mark.django_db
def test_staff_who_may_only_look_cannot_upload_confirm_resend_or_revoke(make_person: Any) -> None:
    from django.contrib.auth.models import Permission

    uploader = make_person("staff@example.com", is_staff=True)
    batch = invitation_import.import_preview(
        data=b"email\na@example.com\n", filename="a.csv", uploaded_by=uploader
    )
    made = invitations.invitation_create(email="b@example.com", accept_url="http://x/{token}/")
    looker = make_person("looker@example.com", is_staff=True)
    looker.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_invitation", "view_invitationimport"])
    )
    client = Client()
    client.force_login(looker)
    assert client.get(f"/admin/accounts/invitation/import/{batch.pk}/").status_code == 200
    assert upload(client, b"email\nc@example.com\n").status_code == 403
    assert client.post(f"/admin/accounts/invitation/import/{batch.pk}/").status_code == 403
    listing = client.get("/admin/accounts/invitation/").content.decode()
    assert "Invite from a CSV file" not in listing and 'value="resend"' not in listing
    action = {"_selected_action": [made.invitation.pk], "post": "yes", "index": 0}
    for name in ("resend", "revoke"):
        client.post("/admin/accounts/invitation/", {**action, "action": name})
    batch.refresh_from_db()
    made.invitation.refresh_from_db()
    assert batch.status == ImportStatus.PREVIEW and made.invitation.revoked_at is None
    assert OutgoingMail.objects.filter(kind="invitation").count() == 1


@pytest.mark.django_db
def test_the_progress_page_says_why_mails_are_not_sent_yet(
    staff_client: Client, settings: Any, unused_tcp_port: int
) -> None:
    answer = upload(staff_client, b"email\na@example.com\nb@example.com\n")
    batch = InvitationImport.objects.get()
    staff_client.post(answer.url)
    assert invitation_import.import_run(import_id=batch.pk).outcome == "done"  # as the worker does
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", unused_tcp_port, 2
    from portal.core import mail

    for outgoing in OutgoingMail.objects.all():
        assert mail.mail_send(mail_id=outgoing.pk) == "retry"
    page = staff_client.get(answer.url).content.decode()
    assert "Invitations made; mails still going out" in page
    assert "Not sent yet, retried with backoff: ConnectionRefusedError" in page
    assert 'http-equiv="refresh"' in page
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for outgoing in OutgoingMail.objects.all():
        OutgoingMail.objects.filter(pk=outgoing.pk).update(next_attempt_at=None)
        assert mail.mail_send(mail_id=outgoing.pk) == "sent"
    page = staff_client.get(answer.url).content.decode()
    assert ">Done<" in page and 'http-equiv="refresh"' not in page
