"""The signup policy is one settings page: the list leads to it, no second row, no delete,
allowed domains validated entry by entry; a closed portal shows "signup is closed"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portal.accounts.models import SignupMode, SignupPolicy, User

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/signuppolicy/"
ADD = "/admin/accounts/signuppolicy/add/"


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x long passphrase"))
    return client


def test_it_leads_from_the_list_to_the_add_page_naming_the_default(staff: Client) -> None:
    response = staff.get(CHANGELIST, follow=True)
    assert response.redirect_chain == [(ADD, 302)]
    assert b"until you save one, signup is by staff approval (the default)" in response.content
    assert b"Save and add another" not in response.content
    assert not SignupPolicy.objects.exists()  # opening the page writes nothing


def test_it_saves_the_first_policy_and_then_shows_only_that_one(staff: Client) -> None:
    response = staff.post(ADD, {"mode": SignupMode.CLOSED, "allowed_domains": ""})
    policy = SignupPolicy.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{CHANGELIST}{policy.pk}/change/"
    assert staff.get(CHANGELIST)["Location"] == f"{CHANGELIST}{policy.pk}/change/"

    # A second row: the add page (a bookmark, an old tab) leads to the one there is.
    response = staff.post(ADD, {"mode": SignupMode.OPEN, "allowed_domains": ""}, follow=True)
    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{policy.pk}/change/"
    assert b"There is one signup policy; change it here." in response.content
    assert SignupPolicy.objects.get().mode == SignupMode.CLOSED

    # A refused change shows the saved mode, not the one the form was refused with.
    refused = staff.post(
        f"{CHANGELIST}{policy.pk}/change/", {"mode": SignupMode.DOMAINS, "allowed_domains": "x"}
    )
    assert b"Now: signup is closed." in refused.content and b"is not a full domain name" in refused.content


def test_it_cannot_be_deleted(staff: Client) -> None:
    policy = SignupPolicy.objects.create(mode=SignupMode.OPEN)
    page = staff.get(f"{CHANGELIST}{policy.pk}/change/")
    assert b"deletelink" not in page.content
    assert staff.post(f"{CHANGELIST}{policy.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SignupPolicy.objects.exists()


@pytest.mark.parametrize(
    ("entry", "sentence"),
    [
        ("https://example.com", "'https://example.com' is not a domain name: write the domain alone"),
        ("ann@example.com", "'ann@example.com' is not a domain name"),
        ("example.com, corp.test", "'example.com, corp.test' is not a domain name"),
        ("exa mple.com", "'exa mple.com' is not a domain name"),
        ("localhost", "'localhost' is not a full domain name"),
        ("10.0.0.1", "'10.0.0.1' is not a full domain name"),
        ("exa_mple.com", "'exa_mple.com' is not a domain name that mail can be sent to"),
        ("\u0430pple.com", "mixes letters of different alphabets"),  # Cyrillic a
    ],
)
def test_it_refuses_an_entry_that_is_no_domain_naming_it(staff: Client, entry: str, sentence: str) -> None:
    data = {"mode": SignupMode.DOMAINS, "allowed_domains": f"corp.test\n{entry}"}
    response = staff.post(ADD, data)
    assert response.status_code == 200
    assert sentence in response.content.decode().replace("&#x27;", "'")
    assert not SignupPolicy.objects.exists()


def test_it_keeps_unicode_domains_and_needs_one_in_domains_mode(staff: Client) -> None:
    response = staff.post(ADD, {"mode": SignupMode.DOMAINS, "allowed_domains": ""})
    assert b"List at least one domain" in response.content
    staff.post(ADD, {"mode": SignupMode.DOMAINS, "allowed_domains": "M\u00fcller.de\n@Corp.test\n"})
    assert SignupPolicy.objects.get().domains() == {"xn--mller-kva.de", "corp.test"}


def test_a_closed_portal_shows_signup_is_closed_and_refuses_a_post(client: Client, settings: Any) -> None:
    SignupPolicy.objects.create(mode=SignupMode.CLOSED)
    page = client.get("/accounts/signup/")
    text = page.content.decode()
    assert page.status_code == 200 and "Signup is closed" in text
    assert "invitation link" in text and 'name="password1"' not in text
    data = {
        "email": "ann@example.com",
        "name": "Ann",
        "password1": "a long pass 77",
        "password2": "a long pass 77",
    }
    refused = client.post("/accounts/signup/", data)
    assert refused.status_code == 403 and b"Signup is closed" in refused.content
    assert not User.objects.exists()


def test_staff_who_may_only_look_are_told_the_default_not_refused(client: Client) -> None:
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user(email="viewer@example.com", password="x long passphrase", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_signuppolicy"))
    client.force_login(viewer)
    response = client.get(CHANGELIST, follow=True)
    assert response.redirect_chain == [("/admin/", 302)]
    assert b"No signup policy saved yet: signup is by staff approval (the default)." in response.content
