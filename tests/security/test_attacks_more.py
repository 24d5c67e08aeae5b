"""Attacks beyond the 16 items of issue 11, tried over HTTP on loopback (PostgreSQL, Redis).

Each test is one attack; tests/security/README.md says what each gave. Where an attack broke,
the test reproduced it first (red) and guards the fix; the others guard what held and would be
easy to lose.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail as django_mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import LiteLLMServer
from portal.accounts.models import Invitation, SignupMode, SignupPolicy, User
from tests.mailbox import deliver_queued_mail
from tests.security.test_attacks_degrade import error_mails, refuse_writes  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"
ATTACKER_PASSWORD = "the attacker's own passphrase 3"
MEGABYTE = 1024 * 1024


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def open_policy(mode: str = SignupMode.OPEN) -> None:
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=mode)


def browser() -> Client:
    # A 500 must be seen as the attacker sees it, not as an exception in the test.
    return Client(raise_request_exception=False)


def sign_up(client: Client, email: str, password: str = PASSWORD, name: str = "Someone") -> Any:
    return client.post(
        "/accounts/signup/", {"email": email, "name": name, "password1": password, "password2": password}
    )


def log_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post("/accounts/login/", {"username": email, "password": password})


def staff_holding(*perms: str, email: str = "helpdesk@corp.test") -> tuple[User, Client]:
    staff = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        staff.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = browser()
    client.force_login(staff)
    return staff, client


# --- pre-hijacking through the staff ------------------------------------------------------


def test_staff_marking_a_strangers_signup_verified_never_activates_the_strangers_password(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy(SignupMode.APPROVAL)
    with django_capture_on_commit_callbacks(execute=True):
        assert sign_up(browser(), "victim@corp.test", ATTACKER_PASSWORD).status_code == 302
    victim = User.objects.get(email="victim@corp.test")
    # The owner never got (or lost) the link and asks the helpdesk, who clears the row.
    _, helpdesk = staff_holding("accounts.view_user", "accounts.change_user")
    response = helpdesk.post(
        "/admin/accounts/user/",
        {"action": "mark_verified_and_approve", "_selected_action": [victim.pk], "post": "yes"},
    )
    assert response.status_code == 302
    victim.refresh_from_db()
    assert victim.email_verified_at is not None and victim.approved_at is not None
    assert log_in(browser(), "victim@corp.test", ATTACKER_PASSWORD).status_code == 200  # refused
    # The owner chooses their password from the link mailed to the address.
    reset = [
        m for m in deliver_queued_mail() if m.to == ["victim@corp.test"] and "/accounts/reset/" in m.body
    ]
    assert len(reset) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(reset[0].body))
    assert link
    owner = browser()
    form = owner.get(link.group(1), follow=True)
    done = owner.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302
    assert log_in(browser(), "victim@corp.test", PASSWORD).status_code == 302


def test_the_strangers_open_session_ends_when_staff_vouch_for_the_address(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    attacker = browser()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(attacker, "victim@corp.test", ATTACKER_PASSWORD)
    assert log_in(attacker, "victim@corp.test", ATTACKER_PASSWORD).status_code == 302
    victim = User.objects.get(email="victim@corp.test")
    _, helpdesk = staff_holding("accounts.view_user", "accounts.change_user")
    helpdesk.post(
        "/admin/accounts/user/",
        {"action": "mark_verified_and_approve", "_selected_action": [victim.pk], "post": "yes"},
    )
    response = attacker.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_change_form_cannot_mark_an_address_verified(django_capture_on_commit_callbacks: Any) -> None:
    open_policy()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(browser(), "victim@corp.test", ATTACKER_PASSWORD)
    victim = User.objects.get(email="victim@corp.test")
    _, helpdesk = staff_holding("accounts.view_user", "accounts.change_user")
    response = helpdesk.post(
        f"/admin/accounts/user/{victim.pk}/change/",
        {
            "email": victim.email,
            "name": "Someone",
            "is_active": "on",
            "email_verified_at_0": "2026-01-01",
            "email_verified_at_1": "00:00:00",
            "approved_at_0": "2026-01-01",
            "approved_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    victim.refresh_from_db()
    assert victim.approved_at is not None and victim.email_verified_at is None


# --- bad input on every form --------------------------------------------------------------

ZERO_WIDTH_JOINER = "\N{ZERO WIDTH JOINER}"
RTL_OVERRIDE = "\N{RIGHT-TO-LEFT OVERRIDE}"
COMBINING_ACUTE = "\N{COMBINING ACUTE ACCENT}"
LOOK_ALIKES = [
    "\N{FULLWIDTH LATIN SMALL LETTER A}lice@corp.test",
    "al\N{LATIN SMALL LETTER DOTLESS I}ce@corp.test",
    "alice@corp.te\N{LATIN SMALL LETTER LONG S}t",
    "\N{CYRILLIC SMALL LETTER A}lice@corp.test",
    "alice@corp\N{CYRILLIC SMALL LETTER A}.test",
    f"al{ZERO_WIDTH_JOINER}ice@corp.test",
    f"alice@co{ZERO_WIDTH_JOINER}rp.test",
    f"{RTL_OVERRIDE}alice@corp.test",
    f"alice@{RTL_OVERRIDE}corp.test",
    f"alice{COMBINING_ACUTE}@corp.test",
    "alice\N{FULLWIDTH COMMERCIAL AT}corp.test",
    "alice@corp.test\x00",
    "alice\x00@corp.test",
    "",
    " ",
    "x" * MEGABYTE,
    "a@" + "b" * MEGABYTE + ".test",
]


@pytest.mark.parametrize("email", LOOK_ALIKES, ids=lambda e: ascii(e)[:40])
def test_look_alike_huge_and_empty_addresses_on_signup_get_a_sentence_never_a_500_or_a_second_alice(
    email: str, django_capture_on_commit_callbacks: Any
) -> None:
    open_policy()
    User.objects.create_user(email="alice@corp.test", password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(browser(), email, ATTACKER_PASSWORD)
    assert response.status_code in (200, 302), response.status_code
    # No second person for alice, whatever the spelling.
    rows = [u.email for u in User.objects.all()]
    assert rows.count("alice@corp.test") == 1
    assert rows == ["alice@corp.test"], rows  # a look-alike is refused, never a second row
    assert log_in(browser(), "alice@corp.test", PASSWORD).status_code == 302


@pytest.mark.parametrize("email", LOOK_ALIKES, ids=lambda e: ascii(e)[:40])
def test_look_alike_huge_and_empty_addresses_on_login_and_reset_never_500(email: str) -> None:
    User.objects.create_user(email="alice@corp.test", password=PASSWORD)
    client = browser()
    assert log_in(client, email, PASSWORD).status_code in (200, 302)
    assert client.post("/accounts/password_reset/", {"email": email}).status_code in (200, 302)
    assert client.post("/admin/login/", {"username": email, "password": PASSWORD}).status_code in (200, 302)


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", "x" * MEGABYTE),
        ("name", f"{RTL_OVERRIDE}moc.live{ZERO_WIDTH_JOINER}\x00"),
        ("password", "p" * MEGABYTE),
        ("password", "pass\x00word long enough 9"),
        ("password", ""),
    ],
)
def test_huge_control_and_empty_values_on_signup_never_500(field: str, value: str) -> None:
    open_policy()
    data = {"email": "bob@corp.test", "name": "Bob", "password1": PASSWORD, "password2": PASSWORD}
    if field == "password":
        data["password1"] = data["password2"] = value
    else:
        data[field] = value
    response = browser().post("/accounts/signup/", data)
    assert response.status_code in (200, 302)


@pytest.mark.parametrize(
    "url", ["/accounts/signup/", "/accounts/login/", "/accounts/password_reset/", "/admin/login/"]
)
def test_an_empty_post_to_each_public_form_says_what_is_missing(url: str) -> None:
    response = browser().post(url, {})
    assert response.status_code == 200 and b"required" in response.content


def test_a_huge_or_forged_verification_token_is_a_clear_400() -> None:
    client = browser()
    for token in ("x" * MEGABYTE, "\x00", "eyJwIjoxfQ:forged:sig"):
        response = client.get(f"/accounts/verify/{token}/")
        assert response.status_code in (400, 404)


def test_the_reveal_with_a_huge_password_is_refused_plainly() -> None:
    person = User.objects.create_user(email="bob@corp.test", password=PASSWORD)
    client = browser()
    client.force_login(person)
    assert client.post("/me/", {"password": "p" * MEGABYTE}).status_code == 200


@pytest.mark.parametrize("query", ["\x00", "x" * MEGABYTE, "%", "'\"\\", f"{RTL_OVERRIDE}a"])
def test_admin_searches_with_nul_huge_or_quoting_never_500(query: str) -> None:
    root = User.objects.create_superuser(email="root@corp.test", password=PASSWORD)
    client = browser()
    client.force_login(root)
    for url in [
        "/admin/accounts/user/",
        "/admin/accounts/invitation/",
        "/admin/portal/outgoingmail/",
        "/admin/litellm/virtualkey/",
        "/admin/litellm/litellmserver/",
        "/admin/connectivity/target/",
        "/admin/librechat/librechataccount/",
    ]:
        response = client.get(url, {"q": query})
        assert response.status_code == 200, (url, response.status_code)


def test_admin_filters_with_garbage_values_never_500() -> None:
    root = User.objects.create_superuser(email="root@corp.test", password=PASSWORD)
    client = browser()
    client.force_login(root)
    for params in [
        {"is_staff__exact": "\x00"},
        {"is_staff__exact": "maybe"},
        {"date_joined__gte": "not a date"},
        {"email_verified_at__isnull": "\x00"},
        {"o": "99.-1.x"},
        {"p": "-1"},
        {"p": "9" * 40},
        {"groups__id__exact": "x" * 1000},
    ]:
        response = client.get("/admin/accounts/user/", params)
        assert response.status_code in (200, 302), (params, response.status_code)


# --- redirects ------------------------------------------------------------------------------

OFFSITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https:evil.example",
    "http://testserver@evil.example/",
    "/%09/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "\N{FULLWIDTH SOLIDUS}\N{FULLWIDTH SOLIDUS}evil.example",
]


def stays_here(location: str) -> bool:
    # As a browser resolves it: "%EF%BC%8F..." is a path on this host, "//evil" is not.
    return url_has_allowed_host_and_scheme(
        location, allowed_hosts={"testserver"}
    ) and not location.startswith(("//", "/\\", "\\"))


@pytest.mark.parametrize("target", OFFSITE, ids=ascii)
def test_no_login_or_logout_sends_anyone_to_another_host(target: str) -> None:
    User.objects.create_user(email="bob@corp.test", password=PASSWORD, is_staff=True)
    for url in ("/accounts/login/", "/admin/login/"):
        client = browser()
        response = client.post(f"{url}?next={target}", {"username": "bob@corp.test", "password": PASSWORD})
        assert response.status_code == 302
        assert stays_here(response["Location"]), response["Location"]
        response = client.post(f"/accounts/logout/?next={target}")
        assert stays_here(response["Location"]), response["Location"]


def test_a_forged_host_header_never_gets_a_link_to_another_host(
    django_capture_on_commit_callbacks: Any,
) -> None:
    open_policy()
    User.objects.create_user(email="bob@corp.test", password=PASSWORD)
    client = browser()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(
                "/accounts/password_reset/", {"email": "bob@corp.test"}, HTTP_HOST="evil.example"
            ).status_code
            == 400
        )
        signup = sign_up(Client(raise_request_exception=False, HTTP_HOST="evil.example"), "new@corp.test")
        assert signup.status_code == 400
        forwarded = client.post(
            "/accounts/password_reset/", {"email": "bob@corp.test"}, HTTP_X_FORWARDED_HOST="evil.example"
        )
    assert forwarded.status_code == 302
    assert all("evil.example" not in m.body for m in deliver_queued_mail())


# --- staff holding exactly one permission ---------------------------------------------------


def _admin_permissions() -> list[str]:
    perms = []
    for model in admin.site._registry:
        ct = ContentType.objects.get_for_model(model)
        perms += [f"{ct.app_label}.{p.codename}" for p in Permission.objects.filter(content_type=ct)]
    return sorted(perms)


def _some_row(model: Any) -> Any:
    return model._default_manager.order_by("pk").first()


@pytest.fixture
def one_of_each_row(db: None) -> None:
    User.objects.create_user(email="someone@corp.test", password=PASSWORD)
    Invitation.objects.create(email="guest@corp.test")
    server = LiteLLMServer(name="litellm-dev", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = "sk-master-never-shown-0123456789"
    server.save()
    LibreChatServer.objects.create(name="chat", api_url="http://127.0.0.1:9", network="backend-dev")


def test_staff_holding_exactly_one_permission_get_that_and_nothing_else(one_of_each_row: None) -> None:
    """Each permission of each admin model, alone: no admin page of any model answers 200 beyond
    what that permission reaches, and none answers a 500."""
    broken = []
    for index, perm in enumerate(_admin_permissions()):
        _, client = staff_holding(perm, email=f"staff{index}@corp.test")
        app_label, codename = perm.split(".")
        for model in admin.site._registry:
            meta = model._meta
            mine = meta.app_label == app_label and codename.endswith(f"_{meta.model_name}")
            action = codename.rsplit("_", 1)[0] if mine else ""
            pages = {"changelist": reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")}
            if mine or index == 0:
                pages["add"] = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
                row = _some_row(model)
                if row is not None:
                    for page in ("change", "history", "delete"):
                        pages[page] = reverse(
                            f"admin:{meta.app_label}_{meta.model_name}_{page}", args=[row.pk]
                        )
            for page, url in pages.items():
                status = client.get(url).status_code
                allowed = {
                    "changelist": action in ("view", "change"),
                    "change": action in ("view", "change"),
                    "history": action in ("view", "change"),
                    "add": action == "add",
                    "delete": action == "delete",
                }[page]
                # Refusing more than the permission (no add form for rows the portal writes, a
                # server's add taking the address permission too) is by design; reaching more is not.
                if status >= 500 or (status == 200 and not allowed):
                    broken.append((perm, page, url, status))
    assert broken == [], "\n".join(map(str, broken))


# --- where a secret leaves the process ------------------------------------------------------


def opened(client: Client, link: str) -> str:
    """Open a mailed link as a browser does; the URL of the page its form posts to."""
    page = client.get(link, follow=True)
    assert page.status_code == 200
    return page.redirect_chain[-1][0] if page.redirect_chain else link


def test_an_error_on_the_verification_link_mails_the_admins_no_token(
    refuse_writes: Any,  # noqa: F811  (the fixture imported above)
    error_mails: None,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The link is a credential (it lets its holder choose the password): a failure on it
    must not copy it into the admins' mailbox, in the subject, the URL or the request's META."""
    open_policy()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(browser(), "victim@corp.test")
    message = [m for m in deliver_queued_mail() if m.to == ["victim@corp.test"]][-1]
    link = re.search(r"http://testserver(/accounts/verify/([^/\s]+)/)", str(message.body))
    assert link
    token = link.group(2)
    owner = browser()
    form_url = opened(owner, link.group(1))
    refuse_writes("accounts_user")
    before = len(django_mail.outbox)
    with transaction.atomic():
        response = owner.post(form_url, {"password": PASSWORD})
        transaction.set_rollback(True)
    assert response.status_code == 500
    reports = django_mail.outbox[before:]
    assert len(reports) == 1 and "No space left on device" in reports[0].body
    alternatives = getattr(reports[0], "alternatives", [])
    text = "\n".join([str(reports[0].subject), str(reports[0].body), *(str(a[0]) for a in alternatives)])
    assert "/accounts/verify/" in text  # the report still says which page failed
    assert token not in text


def test_guessing_on_a_verification_link_logs_no_token(
    caplog: pytest.LogCaptureFixture, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Django logs every 4xx with its path: the 429 for too many password guesses on a valid
    link must not write the link into the log."""
    open_policy()
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(browser(), "victim@corp.test")
    message = [m for m in deliver_queued_mail() if m.to == ["victim@corp.test"]][-1]
    link = re.search(r"http://testserver(/accounts/verify/([^/\s]+)/)", str(message.body))
    assert link
    caplog.set_level(logging.DEBUG)
    guesser = browser()
    form_url = opened(guesser, link.group(1))
    statuses = {guesser.post(form_url, {"password": f"guess {n}"}).status_code for n in range(12)}
    assert 429 in statuses
    assert "Too Many Requests" in caplog.text and link.group(2) not in caplog.text
