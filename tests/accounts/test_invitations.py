"""Invitations that arrive: the mailed link signs up the invited address once, in its canonical
form, and a used, expired, withdrawn or replaced link gets a clear page (never a 500). The
token is stored hashed only; staff see the link once; a mail server that is down loses nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from integrations.librechat.models import LibreChatAccount, LibreChatServer
from portal.accounts import invitations
from portal.accounts.models import Invitation, SignupMode, User
from portal.core import mail
from portal.models import MailStatus, OutgoingMail
from tests.accounts.conftest import PASSWORD
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db
ACCEPT = "http://testserver/accounts/invitation/{token}/"
LINK = re.compile(r"http://testserver(/accounts/invitation/[^/\s]+/)")
LOOK_ALIKE = "\u0430nn@example.com"  # a Cyrillic "a" before "nn"


def invite(email: str = "ann@example.com", **extra: Any) -> invitations.MadeInvitation:
    return invitations.invitation_create(email=email, accept_url=ACCEPT, **extra)


def link_path(made: invitations.MadeInvitation) -> str:
    found = LINK.search(made.link)
    assert found, made.link
    return found.group(1)


def sign_up(client: Client, path: str, email: str = "ann@example.com") -> Any:
    opened = client.get(path)
    if opened.status_code != 302:
        return opened
    return client.post(
        opened["Location"], {"email": email, "name": "Ann", "password1": PASSWORD, "password2": PASSWORD}
    )


def test_an_invitation_mails_its_link_and_stores_only_the_tokens_hash(policy: Any) -> None:
    policy(SignupMode.INVITATION)
    made = invite("ANN@Example.com", name="Ann Example")
    token = link_path(made).rsplit("/", 2)[-2]
    row = Invitation.objects.get()
    assert row.email == "ann@example.com"
    assert row.token_hash == invitations.token_hash(token) != token
    assert row.expires_at is not None and row.expires_at > timezone.now() + dt.timedelta(days=13)
    # The raw token is nowhere in the database: not in the invitation, not in the outbox row
    # (its body is encrypted at rest).
    with connection.cursor() as cursor:
        for table in ("accounts_invitation", "portal_outgoingmail"):
            cursor.execute(f"SELECT * FROM {table}")
            assert all(token not in str(value) for value in cursor.fetchall()), table
    [sent] = deliver_queued_mail()
    assert sent.to == ["ann@example.com"] and made.link in sent.body and "Ann Example" in sent.body
    assert OutgoingMail.objects.get().status == MailStatus.SENT


def test_the_link_signs_up_the_invited_address_once_in_any_spelling(
    client: Client, policy: Any, server: LibreChatServer
) -> None:
    policy(SignupMode.INVITATION)
    path = link_path(invite())
    opened = client.get(path)
    assert (
        opened.status_code == 302 and opened["Location"] == "/accounts/invitation/open/"
    )  # token out of the URL
    page = client.get(opened["Location"])
    assert page.status_code == 200 and b"ann@example.com" in page.content

    answer = client.post(
        opened["Location"],
        {"email": "ANN@EXAMPLE.COM", "name": "Ann", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert answer.status_code == 302 and answer["Location"] == "/me/"
    person = User.objects.get()
    assert person.email == "ann@example.com" and person.is_cleared_for_ai
    assert person.check_password(PASSWORD)
    assert LibreChatAccount.objects.filter(person=person).exists()  # their LibreChat account starts
    assert Invitation.objects.get().used_at is not None

    client.logout()
    again = sign_up(client, path)
    assert again.status_code == 410 and b"already used" in again.content
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        (LOOK_ALIKE, "plain Latin letters"),
        ("bob@example.com", "This invitation is for ann@example.com"),
    ],
)
def test_another_or_a_look_alike_address_is_refused(
    client: Client, policy: Any, typed: str, says: str
) -> None:
    policy(SignupMode.INVITATION)
    answer = sign_up(client, link_path(invite()), email=typed)
    assert answer.status_code == 200
    assert says in answer.content.decode()
    assert not User.objects.exists()
    assert Invitation.objects.get().used_at is None


def test_expired_revoked_and_replaced_links_get_a_clear_page(client: Client, policy: Any) -> None:
    policy(SignupMode.INVITATION)
    expired = invite("old@example.com")
    Invitation.objects.filter(email="old@example.com").update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    answer = sign_up(client, link_path(expired), email="old@example.com")
    assert answer.status_code == 410 and "expired on" in answer.content.decode()

    revoked = invite("gone@example.com")
    assert invitations.invitation_revoke(invitation=revoked.invitation)
    answer = sign_up(client, link_path(revoked), email="gone@example.com")
    assert answer.status_code == 410 and "withdrawn" in answer.content.decode()

    first = invite("ann@example.com")
    resent = invitations.invitation_resend(invitation=first.invitation, accept_url=ACCEPT)
    assert resent is not None and resent.link != first.link
    answer = sign_up(client, link_path(first))
    assert answer.status_code == 410 and "not valid" in answer.content.decode()
    assert sign_up(client, link_path(resent)).status_code == 302
    assert User.objects.filter(email="ann@example.com").exists()
    assert client.get("/accounts/invitation/forged-token/").status_code == 410


def test_a_link_opened_twice_at_once_makes_one_person(client: Client, policy: Any) -> None:
    """Two tabs on the same link: the second POST finds the invitation used, not a 500."""
    policy(SignupMode.INVITATION)
    path = link_path(invite())
    other = Client()
    for tab in (client, other):
        assert tab.get(path).status_code == 302
    form = {"email": "ann@example.com", "name": "Ann", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post("/accounts/invitation/open/", form).status_code == 302
    second = other.post("/accounts/invitation/open/", form)
    assert second.status_code == 410 and "already used" in second.content.decode()
    assert User.objects.count() == 1


def test_an_address_is_invited_once_and_a_person_not_at_all(make_person: Any) -> None:
    invite()
    with pytest.raises(invitations.InvitationRefused, match="open invitation"):
        invite("Ann@example.com")
    make_person("bob@example.com")
    with pytest.raises(invitations.InvitationRefused, match="already has an account"):
        invite("bob@example.com")
    assert Invitation.objects.count() == 1


def test_the_ordinary_signup_refuses_a_revoked_invitation(client: Client, policy: Any) -> None:
    policy(SignupMode.INVITATION)
    invitations.invitation_revoke(invitation=invite().invitation)
    answer = client.post(
        "/accounts/signup/",
        {"email": "ann@example.com", "name": "Ann", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "by invitation" in answer.content.decode()
    assert not User.objects.exists()


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(make_person: Any) -> Client:
    staff = make_person("staff@example.com", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_staff_see_the_link_once_and_the_mail_says_why_it_is_not_sent_yet(
    staff_client: Client, settings: Any, unused_tcp_port: int
) -> None:
    answer = staff_client.post(
        "/admin/accounts/invitation/add/", {"email": "Ann@Example.com", "name": "Ann", "plan": ""}
    )
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    shown = LINK.search(answer.content.decode())
    assert shown, "the link is shown once to staff"
    row = Invitation.objects.get()
    assert row.invited_by is not None and row.invited_by.email == "staff@example.com"
    assert row.email == "ann@example.com"
    assert row.token_hash == invitations.token_hash(shown.group(1).rsplit("/", 2)[-2])
    listing = staff_client.get("/admin/accounts/invitation/").content.decode()
    assert "not sent yet: waiting for a worker" in listing
    assert (
        shown.group(1) not in listing
        and shown.group(1)
        not in staff_client.get(f"/admin/accounts/invitation/{row.pk}/change/").content.decode()
    )

    # The mail server is down: the row keeps the mail, says why, and a retry is due.
    mail_id = row.mail_id
    assert mail_id is not None
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", unused_tcp_port, 2
    assert mail.mail_send(mail_id=mail_id) == "retry"
    listing = staff_client.get("/admin/accounts/invitation/").content.decode()
    assert "not sent yet: ConnectionRefusedError" in listing
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutgoingMail.objects.filter(pk=mail_id).update(next_attempt_at=timezone.now())
    assert mail.mails_send_due() == 1  # the beat's retry hands it out again
    assert mail.mail_send(mail_id=mail_id) == "sent"
    listing = staff_client.get("/admin/accounts/invitation/").content.decode()
    assert re.search(r"sent \d\d-\d\d \d\d:\d\d", listing), re.findall(r'field-mail_status">([^<]*)', listing)


def test_staff_cannot_invite_a_person_or_an_address_twice(staff_client: Client) -> None:
    invite()
    twice = staff_client.post("/admin/accounts/invitation/add/", {"email": "ANN@example.com", "name": ""})
    assert "already has an open invitation" in twice.content.decode()
    person = staff_client.post("/admin/accounts/invitation/add/", {"email": "staff@example.com", "name": ""})
    assert "already has an account" in person.content.decode()
    look_alike = staff_client.post("/admin/accounts/invitation/add/", {"email": LOOK_ALIKE, "name": ""})
    assert "plain Latin letters" in look_alike.content.decode()
    assert Invitation.objects.count() == 1


def test_resend_and_revoke_from_the_admin(staff_client: Client, client: Client, policy: Any) -> None:
    policy(SignupMode.INVITATION)
    first = invite()
    action = {"_selected_action": [first.invitation.pk], "post": "yes", "index": 0}
    resent = staff_client.post("/admin/accounts/invitation/", {**action, "action": "resend"})
    assert resent.status_code == 200 and "mailed again with a new link" in resent.content.decode()
    new_path = LINK.search(resent.content.decode())
    assert new_path and new_path.group(1) != link_path(first)
    assert OutgoingMail.objects.filter(kind="invitation").count() == 2
    assert sign_up(client, link_path(first)).status_code == 410  # the old link died

    staff_client.post("/admin/accounts/invitation/", {**action, "action": "revoke"})
    assert sign_up(client, new_path.group(1)).status_code == 410
    assert "revoked" in staff_client.get("/admin/accounts/invitation/?state=revoked").content.decode()


def test_the_admin_search_finds_an_address_by_any_spelling_or_its_start(staff_client: Client) -> None:
    invite("ann@example.com")
    invite("bob@example.com")
    by_address = staff_client.get("/admin/accounts/invitation/?q=ANN@Example.com").content.decode()
    assert "ann@example.com" in by_address and "bob@example.com" not in by_address
    found = staff_client.get("/admin/accounts/invitation/?q=bo").content.decode()
    assert "bob@example.com" in found and "ann@example.com" not in found


def test_the_list_costs_the_same_queries_at_any_size(
    staff_client: Client, django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        invite(f"person{n}@example.com")
    with django_assert_max_num_queries(12):
        assert staff_client.get("/admin/accounts/invitation/").status_code == 200


@pytest.mark.parametrize("days", ["0", "366", "two weeks", "-3"])
def test_a_bad_invitation_lifetime_stops_the_process_in_one_line(days: str, tmp_path: Any) -> None:
    from tests.test_settings import manage

    result = manage("check", env={"PORTAL_INVITATION_DAYS": days}, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        f"PORTAL_INVITATION_DAYS must be a whole number of days from 1 to 365, not {days!r}" in result.stderr
    )


def test_the_invitation_lifetime_is_the_setting(settings: Any) -> None:
    settings.PORTAL_INVITATION_DAYS = 2
    made = invite()
    assert made.invitation.expires_at is not None
    left = made.invitation.expires_at - timezone.now()
    assert dt.timedelta(days=1, hours=23) < left <= dt.timedelta(days=2)


def test_the_links_page_has_a_copy_button_per_link_and_one_for_all(staff_client: Client) -> None:
    made = [invite("ann@example.com"), invite("bob@example.com")]
    action = {"_selected_action": [m.invitation.pk for m in made], "post": "yes", "index": 0}
    page = staff_client.post("/admin/accounts/invitation/", {**action, "action": "resend"}).content.decode()
    assert "portal/copy.js" in page
    for email in ("ann@example.com", "bob@example.com"):
        button = re.search(rf'data-copy="([^"]+)" aria-label="Copy the link for {email}">Copy<', page)
        assert button, email
        target = re.search(rf'id="{button.group(1)}"[^>]*value="([^"]+)"', page)
        assert target and LINK.search(target.group(1)), email  # the button copies that person's link
    assert page.count('class="button copy-button"') == 3
    assert re.search(r'data-copy="invitation-links-all" aria-label="Copy all the links">Copy all<', page)
    box = re.search(r'<textarea id="invitation-links-all"[^>]*>([^<]*)</textarea>', page)
    assert box and [line.split("&#9;")[0] for line in box.group(1).splitlines()] == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert len(LINK.findall(box.group(1))) == 2
    one = staff_client.post(
        "/admin/accounts/invitation/add/", {"email": "cy@example.com", "name": "", "plan": ""}
    )
    assert "Copy the link for cy@example.com" in one.content.decode()
    assert "Copy all" not in one.content.decode()  # one link: its own button is enough
