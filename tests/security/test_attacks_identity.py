"""Identity attacks of issue 11, replayed through the pages an attacker uses, on PostgreSQL.

Item 1: one address is one person: look-alike spellings (dotless i, long s, fullwidth letters, a
  punycode domain) can neither lock a person or the superuser out (no 500, no second row), nor
  take someone's invitation, nor get fresh login attempts; the admin's forms, ensure_admin,
  allowed domains and the migration of existing rows use the same canonical form.
Item 13: signing up with someone else's address and one's own password gets nothing: the
  owner's click on the verification link asks for the signup password, and the owner who does
  not know it chooses their own, after which the first signer's password no longer works.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client

from portal.accounts.models import Invitation, SignupMode, SignupPolicy, User
from tests.mailbox import deliver_queued_mail

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"
ATTACKER_PASSWORD = "the attacker's own passphrase 3"
# The look-alikes, by name: the point of each test is which character it is.
DOTLESS_I = "\N{LATIN SMALL LETTER DOTLESS I}"
LONG_S = "\N{LATIN SMALL LETTER LONG S}"
FULLWIDTH_B = "\N{FULLWIDTH LATIN SMALL LETTER B}"
FULLWIDTH_D = "\N{FULLWIDTH LATIN SMALL LETTER D}"
FULLWIDTH_E = "\N{FULLWIDTH LATIN SMALL LETTER E}"
CYRILLIC_A = "\N{CYRILLIC SMALL LETTER A}"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def open_policy(mode: str = SignupMode.OPEN, domains: str = "") -> None:
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=mode, allowed_domains=domains)


def browser() -> Client:
    # A 500 must be seen as the attacker sees it, not as an exception in the test.
    return Client(raise_request_exception=False)


def sign_up(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/accounts/signup/",
        {"email": email, "name": "Someone", "password1": password, "password2": password},
    )


def log_in(client: Client, email: str, password: str = PASSWORD, *, admin: bool = False) -> Any:
    url = "/admin/login/?next=/admin/" if admin else "/accounts/login/"
    return client.post(url, {"username": email, "password": password})


def verification_link(email: str) -> str:
    message = [m for m in deliver_queued_mail() if m.to == [email] and "Confirm" in m.subject][-1]
    found = re.search(r"http://testserver(/accounts/verify/[^/\s]+/)", str(message.body))
    assert found, message.body
    return found.group(1)


# --- item 1: one address, one person --------------------------------------------------------


def test_item1_a_dotless_i_signup_neither_adds_a_row_nor_locks_alice_out() -> None:
    assert connection.vendor == "postgresql"  # where UPPER(dotless i) = 'I' made the lookup ambiguous
    open_policy()
    User.objects.create_user(email="alice@x.test", password=PASSWORD)
    attacker = browser()
    signup = sign_up(attacker, f"al{DOTLESS_I}ce@x.test", ATTACKER_PASSWORD)
    response = log_in(browser(), "alice@x.test")  # was a 500: MultipleObjectsReturned
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert signup.status_code == 200
    assert b"may only use plain Latin letters" in signup.content
    assert list(User.objects.values_list("email", flat=True)) == ["alice@x.test"]
    # The attacker's spelling is no way in either: a failed login, not a 500.
    assert log_in(browser(), f"al{DOTLESS_I}ce@x.test", ATTACKER_PASSWORD).status_code == 200


def test_item1_a_long_s_signup_does_not_lock_the_superuser_out_of_the_admin(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    User.objects.create_superuser(email="root@sec.test", password=PASSWORD)
    attacker = browser()
    with django_capture_on_commit_callbacks(execute=True):
        signup = sign_up(attacker, f"root@{LONG_S}ec.test", ATTACKER_PASSWORD)
    response = log_in(browser(), "root@sec.test", admin=True)  # was a 500
    assert response.status_code == 302 and response["Location"] == "/admin/"
    # Answered like any taken address; the note goes to the real owner's mailbox only.
    assert signup.status_code == 302 and signup["Location"] == "/accounts/signup/done/"
    assert User.objects.count() == 1
    assert [(m.subject, m.to) for m in deliver_queued_mail()] == [
        ("You already have an account", ["root@sec.test"])
    ]
    assert log_in(browser(), f"root@{LONG_S}ec.test", ATTACKER_PASSWORD, admin=True).status_code == 200


def test_item1_a_punycode_look_alike_does_not_consume_carols_invitation() -> None:
    open_policy(SignupMode.INVITATION)
    Invitation.objects.create(email="carol@gmail.com")
    response = sign_up(browser(), f"carol@gma{DOTLESS_I}l.com", ATTACKER_PASSWORD)
    assert response.status_code == 200 and b"by invitation" in response.content
    assert not User.objects.exists()
    assert Invitation.objects.get().used_at is None
    response = sign_up(browser(), "Carol@Gmail.com")
    assert response.status_code == 302
    assert User.objects.get().email == "carol@gmail.com"
    assert Invitation.objects.get().used_at is not None


def test_item1_an_invitation_is_stored_and_matched_in_the_canonical_form(
    staff_with: Any,
) -> None:
    staff = staff_with("accounts.add_invitation", "accounts.view_invitation")
    response = staff.post("/admin/accounts/invitation/add/", {"email": f"Dora@{LONG_S}ec.test"})
    # Made: the page that shows its link once (a 200, never cached), not a redirect.
    assert response.status_code == 200 and b"Invitation made and mailed" in response.content
    assert Invitation.objects.get().email == "dora@sec.test"
    response = staff.post("/admin/accounts/invitation/add/", {"email": f"eve@{CYRILLIC_A}pple.com"})
    assert response.status_code == 200 and b"mixes letters of different alphabets" in response.content
    open_policy(SignupMode.INVITATION)
    assert sign_up(browser(), f"{FULLWIDTH_D}ora@sec.test").status_code == 302
    assert User.objects.filter(email="dora@sec.test").exists()
    assert Invitation.objects.get().used_at is not None


@pytest.mark.parametrize("variant", [f"{FULLWIDTH_B}ob@sec.test", f"bob@{LONG_S}ec.test", "BOB@SEC.TEST"])
@pytest.mark.parametrize("admin", [False, True], ids=["site", "admin"])
def test_item1_a_look_alike_spelling_gets_no_fresh_login_attempts(
    settings: Any, variant: str, admin: bool
) -> None:
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    settings.PORTAL_LOGIN_RATE_PER_ADDRESS = (100, 300)
    User.objects.create_user(email="bob@sec.test", password=PASSWORD, is_staff=True)
    attacker = browser()
    for _ in range(3):
        assert log_in(attacker, "bob@sec.test", "wrong guess", admin=admin).status_code == 200
    response = log_in(attacker, variant, PASSWORD, admin=admin)
    assert response.status_code == 429 and b"Too many sign-in attempts" in response.content


def test_item1_the_same_person_logs_in_under_any_spelling_of_their_address() -> None:
    User.objects.create_user(email="bob@sec.test", password=PASSWORD)
    for spelling in (f"{FULLWIDTH_B}ob@sec.test", f"bob@{LONG_S}ec.test", "Bob@SEC.test."):
        response = log_in(browser(), spelling)
        assert response.status_code == 302, spelling


def test_item1_two_legacy_rows_for_one_address_are_a_failed_login_never_a_500() -> None:
    # Rows written before the canonical form existed (bulk_create skips the manager).
    User.objects.bulk_create([User(email=f"dave@{LONG_S}ec.test"), User(email="Dave@Sec.Test")])
    for person in User.objects.all():
        person.set_password(PASSWORD)
        person.save(update_fields=["password"])
    for spelling in ("dave@sec.test", f"dave@{LONG_S}ec.test", "Dave@Sec.Test"):
        response = log_in(browser(), spelling)
        assert response.status_code == 200 and b"enter a correct" in response.content.lower()
    response = browser().post("/accounts/password_reset/", {"email": "dave@sec.test"})
    assert response.status_code == 302 and deliver_queued_mail() == []


def test_item1_password_reset_mails_only_the_stored_canonical_address() -> None:
    User.objects.create_user(email="root@sec.test", password=PASSWORD)
    response = browser().post("/accounts/password_reset/", {"email": f"ROOT@{LONG_S}ec.test"})
    assert response.status_code == 302
    assert [m.to for m in deliver_queued_mail()] == [["root@sec.test"]]
    mail.outbox.clear()
    response = browser().post("/accounts/password_reset/", {"email": "root@séc.test"})
    assert response.status_code == 302 and deliver_queued_mail() == []


def test_item1_staff_add_people_in_the_canonical_form_and_get_a_sentence_for_a_duplicate(
    staff_with: Any,
) -> None:
    staff = staff_with("accounts.add_user", "accounts.change_user", "accounts.view_user")
    form = {"name": "Erin", "usable_password": "false"}
    response = staff.post("/admin/accounts/user/add/", {**form, "email": f"ERIN@{LONG_S}ec.test"})
    assert response.status_code == 302, response.content
    assert User.objects.filter(email="erin@sec.test").exists()
    response = staff.post("/admin/accounts/user/add/", {**form, "email": f"{FULLWIDTH_E}rin@sec.test"})
    assert response.status_code == 200 and b"already exists" in response.content
    response = staff.post("/admin/accounts/user/add/", {**form, "email": f"al{DOTLESS_I}ce@x.test"})
    assert response.status_code == 200 and b"may only use plain Latin letters" in response.content
    assert User.objects.filter(email__startswith="erin").count() == 1


def test_item1_allowed_domains_compare_the_canonical_domain() -> None:
    open_policy(SignupMode.DOMAINS, domains=f"{LONG_S}ec.test\nMÜNCHEN.de")
    assert sign_up(browser(), "ann@SEC.test").status_code == 302
    assert sign_up(browser(), "bea@münchen.DE").status_code == 302
    assert set(User.objects.values_list("email", flat=True)) == {"ann@sec.test", "bea@xn--mnchen-3ya.de"}
    response = sign_up(browser(), "cid@sec.test.evil.test")
    assert response.status_code == 200 and b"cannot sign up here" in response.content


def test_item1_ensure_admin_stores_the_canonical_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", f"Root@{LONG_S}ec.test")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("ensure_admin")
    assert list(User.objects.values_list("email", flat=True)) == ["root@sec.test"]
    assert log_in(browser(), "root@sec.test", admin=True).status_code == 302


def test_item1_the_migration_canonicalises_rows_and_reports_collisions_without_merging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    migration = importlib.import_module("portal.accounts.migrations.0004_canonical_email_addresses")
    User.objects.bulk_create(
        [
            User(email="Fay@Example.COM"),  # plain: canonicalised
            User(email="root@sec.test"),  # already canonical: kept
            User(email=f"root@{LONG_S}ec.test"),  # collides with it: left as it is, reported
            User(email=f"al{DOTLESS_I}ce@x.test"),  # has no canonical form: left, reported
        ]
    )
    Invitation.objects.bulk_create([Invitation(email=f"Gus@{LONG_S}ec.test")])
    with caplog.at_level(logging.WARNING, logger="portal.accounts.migrations"):
        migration.canonicalise_addresses(apps, None)
    assert set(User.objects.values_list("email", flat=True)) == {
        "fay@example.com",
        "root@sec.test",
        f"root@{LONG_S}ec.test",
        f"al{DOTLESS_I}ce@x.test",
    }
    assert Invitation.objects.get().email == "gus@sec.test"
    report = caplog.text
    assert (
        f"root@{LONG_S}ec.test" in report
        and "root@sec.test" in report
        and f"al{DOTLESS_I}ce@x.test" in report
    )
    assert "Fay@Example.COM" not in report


# --- item 13: account pre-hijacking ---------------------------------------------------------


def test_item13_the_owners_click_never_activates_the_first_signers_password(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    attacker = browser()
    with django_capture_on_commit_callbacks(execute=True):
        assert sign_up(attacker, "victim@corp.test", ATTACKER_PASSWORD).status_code == 302
    link = verification_link("victim@corp.test")

    owner = browser()
    page = owner.get(link, follow=True)
    assert page.status_code == 200 and b"the password chosen when signing up" in page.content
    # Clicking the button without that password confirms nothing.
    response = owner.post(link)
    assert response.status_code == 200 and b"not the password chosen" in response.content
    assert User.objects.get().email_verified_at is None

    # The owner chooses their own password from the link: it proves the mailbox.
    response = owner.post(link, {"choose": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reset/")
    form = owner.get(response["Location"], follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    done = owner.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302
    person = User.objects.get()
    assert person.email_verified_at is not None
    assert not person.check_password(ATTACKER_PASSWORD)
    assert log_in(browser(), "victim@corp.test", ATTACKER_PASSWORD).status_code == 200
    assert log_in(browser(), "victim@corp.test", PASSWORD).status_code == 302


def test_item13_the_first_signers_open_session_ends_when_the_owner_takes_over(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    attacker = browser()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(attacker, "victim@corp.test", ATTACKER_PASSWORD)
    assert log_in(attacker, "victim@corp.test", ATTACKER_PASSWORD).status_code == 302
    assert attacker.get("/me/").status_code == 200
    owner = browser()
    link = verification_link("victim@corp.test")
    reset = owner.get(owner.post(link, {"choose": "1"})["Location"], follow=True)
    owner.post(reset.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    response = attacker.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_item13_the_person_who_signed_up_confirms_with_their_password_and_is_signed_in(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    person = browser()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(person, "ann@example.com")
    link = verification_link("ann@example.com")
    response = person.post(link, {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert User.objects.get().email_verified_at is not None
    assert person.get("/me/").status_code == 200


def test_item13_guessing_the_signup_password_on_the_link_counts_like_login_attempts(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.PORTAL_LOGIN_RATE_PER_EMAIL = (3, 300)
    open_policy()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(browser(), "victim@corp.test", ATTACKER_PASSWORD)
    link = verification_link("victim@corp.test")
    guesser = browser()
    for n in range(3):
        assert guesser.post(link, {"password": f"guess {n}"}).status_code == 200
    response = guesser.post(link, {"password": ATTACKER_PASSWORD})
    assert response.status_code == 429
    assert User.objects.get().email_verified_at is None


def test_item1_staff_cannot_allow_a_domain_that_mixes_scripts(staff_with: Any) -> None:
    staff = staff_with("accounts.add_signuppolicy", "accounts.view_signuppolicy")
    SignupPolicy.objects.all().delete()
    data = {"mode": SignupMode.DOMAINS, "allowed_domains": f"corp.test\n{CYRILLIC_A}pple.com"}
    response = staff.post("/admin/accounts/signuppolicy/add/", data)
    assert response.status_code == 200 and b"mixes letters of different alphabets" in response.content
    assert not SignupPolicy.objects.exists()
