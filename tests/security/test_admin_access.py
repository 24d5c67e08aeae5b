"""Who may reach the admin: every registered model, checked generically so a new ModelAdmin
is covered the day it is registered."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User


def admin_list_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    return urls


@pytest.fixture
def person_client(db: None) -> Client:
    person = User.objects.create_user(email="person@example.com", password="a long passphrase 1")
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def bare_staff_client(db: None) -> Client:
    staff = User.objects.create_user(email="staff@example.com", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url", admin_list_urls())
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", admin_list_urls())
def test_people_who_are_not_staff_never_see_an_admin_page(person_client: Client, url: str) -> None:
    response = person_client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", [u for u in admin_list_urls() if u != "/admin/"])
def test_staff_without_the_model_permission_get_403(bare_staff_client: Client, url: str) -> None:
    assert bare_staff_client.get(url).status_code == 403


def test_security_headers_are_present(client: Client) -> None:
    response = client.get("/admin/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_admin_login_requires_a_csrf_token() -> None:
    User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/admin/login/", {"username": "ops@example.com", "password": "a long admin passphrase"}
    )
    assert response.status_code == 403
