"""CSRF on every POST the site accepts: the URL conf is walked, so a new view is covered the day
it is added. A logged-in superuser posts without a token and must get 403 everywhere."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from portal.accounts.models import User

pytestmark = pytest.mark.django_db

# Placeholder values for route parameters: the CSRF check runs before the view looks at them.
PARAMETER_VALUES = {
    "int": "1",
    "str": "x",
    "path": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _route_to_url(route: str) -> str | None:
    if route.startswith("^"):  # a regex pattern (the admin's app_list, the catch-all)
        return None
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: PARAMETER_VALUES.get(m.group(1) or "str", "x"), route)


def every_url(patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "/") -> list[str]:
    urls: list[str] = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        part = _route_to_url(str(pattern.pattern))
        if part is None:
            continue
        if isinstance(pattern, URLResolver):
            urls += every_url(pattern.url_patterns, prefix + part)
        else:
            urls.append(prefix + part)
    return sorted(set(urls))


def test_it_walks_the_forms_that_matter() -> None:
    urls = every_url()
    for expected in (
        "/accounts/signup/",
        "/accounts/login/",
        "/accounts/password_reset/",
        "/me/",
        "/me/key/rotate/",
        "/admin/login/",
        "/admin/litellm/virtualkey/1/reveal/",
        "/admin/connectivity/target/1/check-now/",
        "/admin/litellm/litellmserver/1/test/",
        "/admin/accounts/user/provision-librechat/",
    ):
        assert expected in urls


@pytest.fixture
def strict_superuser() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x"))
    return client


@pytest.mark.parametrize("url", every_url())
def test_it_refuses_a_post_without_a_csrf_token(strict_superuser: Client, url: str) -> None:
    response = strict_superuser.post(url, {"email": "ann@example.com", "password": "x"})
    assert response.status_code == 403, f"{url} accepted a POST without a CSRF token"


@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/login/", "/accounts/password_reset/"])
def test_it_refuses_an_anonymous_post_without_a_csrf_token(url: str) -> None:
    response = Client(enforce_csrf_checks=True).post(url, {"email": "ann@example.com", "password": "x"})
    assert response.status_code == 403
