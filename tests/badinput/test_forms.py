"""The signup form and the admin forms fed hostile values (hypothesis): every answer is the
form again with an error, or a redirect after a save; never a 500, never an exception.

The admin add pages are read first, so their fields (and the valid choices of their selects)
come from the page itself: a field added tomorrow is fuzzed too."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal.accounts.models import SignupMode, SignupPolicy, User

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("BADINPUT_EXAMPLES", "50"))
# A network no worker consumes: a valid key form leaves its wake-up there, purged afterwards.
NETWORK = "badinput-nowhere"
NASTY = [
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-1",
    "-0.0001",
    "0",
    "1e309",
    "1e-309",
    "99999999999999999999999",
    "12345678901.12345",
    "\uff11\uff12\uff13",  # fullwidth digits
    "3,5",
    "30d",
    "1mo",
    "0d",
    "-5d",
    "1.5h",
    "30D",
    " 30d ",
    "30 d",
    "9999999mo",
    "1w",
    "\x00",
    "a\x00b",
    "\u202e",
    "\ud7ff",
    "http://[::1",
    "http://",
    "https://user:pw@host/",
    "tcp://127.0.0.1:99999",
    "tcp://:80",
    "redis://:secret@db:6379/0",
    "postgres://u:p@h:0/db",
    "http://169.254.169.254/latest/",
    "dns://",
    "ftp://example.com",
    "javascript:alert(1)",
    "//evil.example",
    "<script>x</script>",
    "'; DROP TABLE litellm_virtualkey; --",
    "../../etc/passwd",
    "a" * 5000,
    "sk-" + "x" * 60,
    "200,abc",
    "999",
    "[1,2]",
    '{"a": 1}',
    "true",
    "ops@",
    "@example.com",
    "x@x",
    "a@b.c" * 60,
]
nasty_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=80))

INPUT = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.I)
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
OPTION = re.compile(r'<option value="([^"]*)"')


def form_fields(page: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(hidden defaults such as the inline management form, {field: valid choices or []})."""
    defaults: dict[str, str] = {}
    fields: dict[str, list[str]] = {}
    for match in INPUT.finditer(page):
        tag, attrs = match.group(1).lower(), dict(ATTR.findall(match.group(2)))
        name = attrs.get("name")
        if not name or name in ("csrfmiddlewaretoken", "_save", "_continue", "_addanother"):
            continue
        if tag == "input" and attrs.get("type") == "hidden":
            defaults[name] = html.unescape(attrs.get("value", ""))
            continue
        choices: list[str] = []
        if tag == "select":
            end = page.find("</select>", match.end())
            choices = [html.unescape(v) for v in OPTION.findall(page[match.end() : end]) if v]
        elif attrs.get("type") in ("checkbox", "radio"):
            choices = [html.unescape(attrs.get("value", "on"))]
        fields.setdefault(name, []).extend(choices)
    return defaults, fields


@st.composite
def form_data(draw: Any, fields: dict[str, list[str]]) -> dict[str, str]:
    data: dict[str, str] = {}
    for name, choices in fields.items():
        if draw(st.integers(0, 5)) == 0:
            continue  # a missing field
        if choices and draw(st.integers(0, 1)):
            data[name] = draw(st.sampled_from(choices))
        else:
            data[name] = draw(nasty_values)
    return data


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def staff_client(db: None, settings: Any, redis_url: str) -> Iterator[Client]:
    settings.LITELLM_ADMIN_WAIT_SECONDS = 0.05
    user = User.objects.create_superuser(email="ops@example.com", password="a long admin passphrase")
    client = Client()
    client.force_login(user)
    server = LiteLLMServer(name="litellm-bad", base_url="http://127.0.0.1:9", network=NETWORK)
    server.master_key = "sk-master-0123456789abcdef"
    server.save()
    VirtualKey.objects.create(
        server=server,
        key_alias="existing",
        token_hash="a" * 64,
        key_name="sk-...aaaa",
        status=KeyStatus.ACTIVE,
        max_budget=Decimal("10"),
    )
    yield client
    import redis

    redis.Redis.from_url(redis_url).delete(f"net.{NETWORK}")


ADMIN_FORMS = [
    "/admin/litellm/virtualkey/add/",
    "/admin/litellm/virtualkey/{key}/change/",
    "/admin/litellm/keyplan/add/",
    "/admin/litellm/litellmserver/add/",
    "/admin/librechat/librechatserver/add/",
    "/admin/connectivity/target/add/",
    "/admin/connectivity/network/add/",
    "/admin/connectivity/alertchannel/add/",
    "/admin/litellm/litellmmodel/add/",
]


@pytest.mark.parametrize("url", ADMIN_FORMS)
def test_admin_forms_answer_hostile_values_with_errors_not_500s(staff_client: Client, url: str) -> None:
    url = url.format(key=VirtualKey.objects.get().pk)
    page = staff_client.get(url)
    assert page.status_code == 200
    defaults, fields = form_fields(page.content.decode())
    assert fields, "no fields found on the page"

    @SETTINGS
    @given(data=form_data(fields))
    def post(data: dict[str, str]) -> None:
        response = staff_client.post(url, {**defaults, **data})
        assert response.status_code in (200, 302), (response.status_code, data)
        if response.status_code == 200:
            # The form again, with a message a person can act on.
            assert b"errornote" in response.content or b"errorlist" in response.content, data

    post()


@pytest.fixture
def open_signup(db: None, settings: Any) -> None:
    settings.PORTAL_SIGNUP_RATE = (100_000, 3600)
    from django.core.cache import cache

    cache.clear()
    SignupPolicy.objects.all().delete()
    SignupPolicy.objects.create(mode=SignupMode.OPEN)


@SETTINGS
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "email": nasty_values | st.emails(),
            "name": nasty_values,
            "password1": nasty_values,
            "password2": nasty_values,
        },
    )
)
def test_signup_answers_hostile_values_with_errors_not_500s(open_signup: None, data: dict[str, str]) -> None:
    response = Client().post("/accounts/signup/", data)
    assert response.status_code in (200, 302), (response.status_code, data)
    if response.status_code == 200:
        assert b'role="alert"' in response.content, data
