"""Tests of the LibreChat contract simulator, over real sockets with plain ``requests``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .librechat import (
    CONTROL_HEADER,
    DEFAULT_JWT_REFRESH_SECRET,
    DEFAULT_JWT_SECRET,
    LibreChatSimulator,
)

PASSWORD = "correct horse"
GENERIC = "Please check your email to verify your email address."
TIMEOUT = 5


class FakeClock:
    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Callable[..., LibreChatSimulator]]:
    started: list[LibreChatSimulator] = []

    def factory(**kwargs: Any) -> LibreChatSimulator:
        kwargs.setdefault("clock", clock)
        sim = LibreChatSimulator(**kwargs).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., LibreChatSimulator]) -> LibreChatSimulator:
    return make_sim()


# ---- helpers ---------------------------------------------------------------------------------


def register(
    sim: LibreChatSimulator, email: str, password: str = PASSWORD, **extra: Any
) -> requests.Response:
    body = {"name": "Test User", "email": email, "password": password, "confirm_password": password}
    body.update(extra)
    return requests.post(f"{sim.base_url}/api/auth/register", json=body, timeout=TIMEOUT)


def login(sim: LibreChatSimulator, email: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(
        f"{sim.base_url}/api/auth/login",
        json={"email": email, "password": password},
        timeout=TIMEOUT,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_cookies(response: requests.Response) -> list[str]:
    return list(response.raw.headers.getlist("Set-Cookie"))


def cookie(response: requests.Response, name: str) -> str:
    for header in set_cookies(response):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";")[0]
    raise AssertionError(f"no {name} cookie in {set_cookies(response)}")


def refresh(sim: LibreChatSimulator, refresh_token: str | None, query: str = "") -> requests.Response:
    headers = {"Cookie": f"refreshToken={refresh_token}"} if refresh_token else {}
    return requests.post(
        f"{sim.base_url}/api/auth/refresh{query}",
        headers=headers,
        timeout=TIMEOUT,
        allow_redirects=False,
    )


def jwt_payload(token: str, secret: str) -> dict[str, Any]:
    head, body, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT"}
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return payload


def logged_in(sim: LibreChatSimulator, email: str = "user@example.com") -> tuple[str, str]:
    """Seed a user, log in, return (access token, refresh token)."""
    sim.add_user(email, PASSWORD)
    response = login(sim, email)
    assert response.status_code == 200
    return response.json()["token"], cookie(response, "refreshToken")


# ---- health and config ---------------------------------------------------------------------


def test_it_answers_health_with_ok_as_express_html_text(sim: LibreChatSimulator) -> None:
    response = requests.get(f"{sim.base_url}/health", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_it_answers_livez_and_readyz_and_can_be_not_ready(sim: LibreChatSimulator) -> None:
    assert requests.get(f"{sim.base_url}/livez", timeout=TIMEOUT).text == "OK"
    assert requests.get(f"{sim.base_url}/readyz", timeout=TIMEOUT).text == "OK"
    sim.configure(ready=False)
    response = requests.get(f"{sim.base_url}/readyz", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (503, "NOT_READY")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/health"), ("GET", "/api/auth/login"), ("POST", "/api/nothing/here")],
)
def test_it_answers_unknown_api_paths_with_endpoint_not_found(
    sim: LibreChatSimulator, method: str, path: str
) -> None:
    response = requests.request(method, f"{sim.base_url}{path}", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json() == {"message": "Endpoint not found"}


def test_it_reports_its_settings_in_the_public_config(sim: LibreChatSimulator) -> None:
    config = requests.get(f"{sim.base_url}/api/config", timeout=TIMEOUT).json()
    assert config["registrationEnabled"] is True
    assert config["emailLoginEnabled"] is True
    assert config["passwordResetEnabled"] is True
    assert config["serverDomain"] == "http://localhost:3080"
    assert config["appTitle"] == "LibreChat"
    sim.configure(allow_registration=False, allow_password_reset=False, min_password_length=12)
    config = requests.get(f"{sim.base_url}/api/config", timeout=TIMEOUT).json()
    assert config["registrationEnabled"] is False
    assert config["passwordResetEnabled"] is False
    assert config["minPasswordLength"] == 12


# ---- register -----------------------------------------------------------------------------


def test_it_registers_without_logging_in(sim: LibreChatSimulator) -> None:
    response = register(sim, "alice@example.com")
    assert response.status_code == 200
    assert response.json() == {"message": GENERIC}
    assert set_cookies(response) == []
    assert "alice@example.com" in sim.users


def test_it_makes_the_first_user_admin_and_the_others_users(sim: LibreChatSimulator) -> None:
    register(sim, "first@example.com")
    register(sim, "second@example.com")
    assert sim.users["first@example.com"].role == "ADMIN"
    assert sim.users["second@example.com"].role == "USER"


def test_it_stores_the_email_lower_cased(sim: LibreChatSimulator) -> None:
    register(sim, "Mixed.Case@Example.COM")
    assert list(sim.users) == ["mixed.case@example.com"]
    assert login(sim, "MIXED.case@example.com").status_code == 200


def test_it_answers_an_existing_email_with_the_same_message_after_a_delay(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(existing_email_delay_s=0.3)
    register(sim, "alice@example.com")
    started = time.monotonic()
    response = register(sim, "ALICE@example.com", password="another password")
    assert time.monotonic() - started >= 0.3
    assert (response.status_code, response.json()) == (200, {"message": GENERIC})
    assert len(sim.users) == 1
    assert sim.check_password("alice@example.com", PASSWORD)


def test_it_rejects_invalid_registrations_with_404_and_joined_messages(
    sim: LibreChatSimulator,
) -> None:
    body = {"name": "Al", "email": "bad", "password": "short", "confirm_password": "x"}
    response = requests.post(f"{sim.base_url}/api/auth/register", json=body, timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json() == {
        "message": "name: String must contain at least 3 character(s) "
        "email: Invalid email "
        "password: String must contain at least 8 character(s) "
        "confirm_password: String must contain at least 8 character(s) "
        ": The passwords did not match"
    }
    assert sim.users == {}


def test_it_reports_mismatched_passwords_without_a_field_name(sim: LibreChatSimulator) -> None:
    response = register(sim, "alice@example.com", confirm_password="something else")
    assert response.status_code == 404
    assert response.json() == {"message": ": The passwords did not match"}


def test_it_reports_missing_fields_as_required(sim: LibreChatSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/api/auth/register", json={"email": "a@example.com"}, timeout=TIMEOUT
    )
    assert response.status_code == 404
    assert response.json() == {"message": "name: Required password: Required confirm_password: Required"}


def test_it_rejects_a_name_longer_than_80_characters(sim: LibreChatSimulator) -> None:
    response = register(sim, "alice@example.com", name="x" * 81)
    assert response.json() == {"message": "name: String must contain at most 80 character(s)"}


def test_it_rejects_a_password_of_only_spaces(sim: LibreChatSimulator) -> None:
    response = register(sim, "alice@example.com", password=" " * 10)
    assert response.status_code == 404
    assert response.json() == {
        "message": "password: Password cannot be only spaces confirm_password: Password cannot be only spaces"
    }


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("a", "username: String must contain at least 2 character(s)"),
        ("bad/name", "username: Potential injection attack detected"),
        ("a*b", "username: Potential injection attack detected"),
        ("αβγ", "username: Invalid characters in username"),
        (42, "username: Invalid input"),
    ],
)
def test_it_applies_librechat_username_rules(sim: LibreChatSimulator, username: Any, message: str) -> None:
    response = register(sim, "alice@example.com", username=username)
    assert (response.status_code, response.json()) == (404, {"message": message})


@pytest.mark.parametrize("username", ["", None, "Alice_01.@#$%&()", "Иван", "山田"])
def test_it_accepts_empty_or_allowed_usernames(sim: LibreChatSimulator, username: Any) -> None:
    assert register(sim, "alice@example.com", username=username).status_code == 200


def test_it_applies_the_configured_minimum_password_length(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(min_password_length=12)
    response = register(sim, "alice@example.com", password="elevenchars")
    assert response.json()["message"].startswith("password: String must contain at least 12 character(s)")
    assert register(sim, "alice@example.com", password="twelve chars").status_code == 200


def test_it_refuses_registration_when_closed(make_sim: Callable[..., LibreChatSimulator]) -> None:
    sim = make_sim(allow_registration=False)
    response = register(sim, "alice@example.com")
    assert (response.status_code, response.json()) == (
        403,
        {"message": "Registration is not allowed."},
    )


def test_it_lets_an_invited_user_register_when_registration_is_closed(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(allow_registration=False)
    token = sim.add_invite("invited@example.com")
    assert register(sim, "invited@example.com", token=token).status_code == 200
    assert "invited@example.com" in sim.users


def test_it_rejects_a_bad_invite_token_with_400(sim: LibreChatSimulator) -> None:
    token = sim.add_invite("invited@example.com")
    for bad in ("not-a-token", token):  # the second: a real token for another email
        response = register(sim, "other@example.com", token=bad)
        assert (response.status_code, response.json()) == (400, {"message": "Invalid invite token"})


def test_it_refuses_email_domains_that_are_not_allowed(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(allowed_domains=["example.com"])
    response = register(sim, "eve@elsewhere.org")
    assert response.status_code == 403
    assert response.json() == {
        "message": "The email address provided cannot be used. Please use a different email address."
    }
    assert register(sim, "bob@EXAMPLE.com").status_code == 200


@pytest.mark.parametrize(("email_service", "verified"), [(False, True), (True, False)])
def test_it_verifies_the_email_at_once_only_without_an_email_service(
    make_sim: Callable[..., LibreChatSimulator], email_service: bool, verified: bool
) -> None:
    sim = make_sim(email_service=email_service)
    register(sim, "alice@example.com")
    assert sim.users["alice@example.com"].email_verified is verified
    assert [m["subject"] for m in sim.outbox] == (["Verify your email"] if email_service else [])


def test_it_rate_limits_registration_per_ip_counting_every_attempt(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(register_max=2)
    assert register(sim, "bad-email").status_code == 404
    assert register(sim, "alice@example.com").status_code == 200
    response = register(sim, "bob@example.com")
    assert response.status_code == 429
    assert response.json() == {"message": "Too many accounts created, please try again after 60 minutes"}
    assert response.headers["Retry-After"] == "3600"
    assert "bob@example.com" not in sim.users


def test_it_lets_registrations_through_again_after_the_window(
    make_sim: Callable[..., LibreChatSimulator], clock: FakeClock
) -> None:
    sim = make_sim(register_max=1, register_window_s=120)
    register(sim, "alice@example.com")
    response = register(sim, "bob@example.com")
    assert response.json() == {"message": "Too many accounts created, please try again after 2 minutes"}
    clock.advance(119)
    assert register(sim, "bob@example.com").status_code == 429
    clock.advance(1)
    assert register(sim, "bob@example.com").status_code == 200


def test_it_recovers_after_a_short_real_time_window(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(clock=time.time, register_max=1, register_window_s=1.0)
    assert register(sim, "alice@example.com").status_code == 200
    response = register(sim, "bob@example.com")
    # windowMs / 60000 printed the way JavaScript prints numbers.
    assert response.json() == {
        "message": "Too many accounts created, please try again after 0.016666666666666666 minutes"
    }
    time.sleep(1.05)
    assert register(sim, "bob@example.com").status_code == 200


def test_it_keys_rate_limits_on_the_client_address(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(register_max=1)
    assert register(sim, "alice@example.com").status_code == 200
    assert register(sim, "bob@example.com").status_code == 429

    def register_from(source_ip: str, email: str) -> int:
        conn = http.client.HTTPConnection(sim.host, sim.port, timeout=TIMEOUT, source_address=(source_ip, 0))
        body = json.dumps({"name": "Bob", "email": email, "password": PASSWORD, "confirm_password": PASSWORD})
        conn.request("POST", "/api/auth/register", body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status

    assert register_from("127.0.0.2", "bob@example.com") == 200
    assert register_from("127.0.0.2", "carol@example.com") == 429


# ---- login --------------------------------------------------------------------------------


def test_it_logs_in_with_a_token_the_user_and_http_only_cookies(sim: LibreChatSimulator) -> None:
    register(sim, "alice@example.com")
    response = login(sim, "alice@example.com")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "user"}
    user = body["user"]
    assert user["_id"] == user["id"] == sim.users["alice@example.com"].id
    assert user["email"] == "alice@example.com"
    assert user["role"] == "ADMIN"
    assert user["provider"] == "local"
    assert user["emailVerified"] is True
    assert "password" not in user
    refresh_cookie, provider_cookie = set_cookies(response)
    assert refresh_cookie.startswith("refreshToken=ey")
    assert "; HttpOnly" in refresh_cookie
    assert "; SameSite=Strict" in refresh_cookie
    assert "Secure" not in refresh_cookie
    assert "Domain=" not in refresh_cookie
    assert provider_cookie.startswith("token_provider=librechat;")
    assert len(sim.sessions_for("alice@example.com")) == 1


def test_it_marks_the_cookies_secure_when_configured(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(secure_cookies=True)
    sim.add_user("alice@example.com", PASSWORD)
    response = login(sim, "alice@example.com")
    assert all("; Secure" in header for header in set_cookies(response))
    # A cookie jar keeps a Secure cookie away from plain http: send the header explicitly.
    session = requests.Session()
    session.cookies.update(response.cookies)
    jarred = session.post(f"{sim.base_url}/api/auth/refresh", timeout=TIMEOUT)
    assert jarred.text == "Refresh token not provided"
    assert refresh(sim, cookie(response, "refreshToken")).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "nobody@example.com", "password": PASSWORD}, "Email does not exist."),
        ({"email": "alice@example.com", "password": "wrong password"}, "Incorrect password."),
        ({"email": "alice@example.com"}, "Missing credentials"),
        ({"email": "", "password": PASSWORD}, "Missing credentials"),
        ({}, "Missing credentials"),
        ({"email": "alice@example.com", "password": "short"}, None),
        ({"email": "not-an-email", "password": PASSWORD}, "email: Invalid email"),
    ],
)
def test_it_answers_failed_logins_with_404(
    sim: LibreChatSimulator, body: dict[str, Any], message: str | None
) -> None:
    sim.add_user("alice@example.com", PASSWORD)
    response = requests.post(f"{sim.base_url}/api/auth/login", json=body, timeout=TIMEOUT)
    assert response.status_code == 404
    expected = message or "password: String must contain at least 8 character(s)"
    assert response.json() == {"message": expected}
    assert set_cookies(response) == []


def test_it_refuses_an_unverified_email_when_not_allowed(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(email_service=True, allow_unverified_email_login=False)
    register(sim, "alice@example.com")
    response = login(sim, "alice@example.com")
    assert (response.status_code, response.json()) == (422, {"message": "Email not verified."})
    sim.configure(allow_unverified_email_login=True)
    assert login(sim, "alice@example.com").status_code == 200


def test_it_refuses_email_login_when_disabled(make_sim: Callable[..., LibreChatSimulator]) -> None:
    sim = make_sim(allow_email_login=False)
    sim.add_user("alice@example.com", PASSWORD)
    response = login(sim, "alice@example.com")
    assert (response.status_code, response.json()) == (
        403,
        {"message": "Email login is not allowed."},
    )


def test_it_answers_two_fa_pending_without_a_session(sim: LibreChatSimulator) -> None:
    sim.add_user("alice@example.com", PASSWORD, two_fa=True)
    response = login(sim, "alice@example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["twoFAPending"] is True
    assert isinstance(body["tempToken"], str)
    assert "token" not in body
    assert set_cookies(response) == []
    assert sim.sessions_for("alice@example.com") == []


def test_it_rate_limits_logins_per_ip_and_recovers_after_the_window(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    sim.add_user("alice@example.com", PASSWORD)
    for _ in range(7):
        assert login(sim, "alice@example.com", "wrong password").status_code == 404
    response = login(sim, "alice@example.com")
    assert response.status_code == 429
    assert response.json() == {"message": "Too many login attempts, please try again after 5 minutes."}
    clock.advance(300)
    assert login(sim, "alice@example.com").status_code == 200


# ---- tokens ---------------------------------------------------------------------------------


def test_it_issues_an_hs256_access_jwt_with_the_contract_claims(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    sim.add_user("alice@example.com", PASSWORD, username="alice")
    token = login(sim, "alice@example.com").json()["token"]
    payload = jwt_payload(token, DEFAULT_JWT_SECRET)
    assert list(payload) == ["id", "username", "provider", "email", "iat", "exp"]
    assert payload["id"] == sim.users["alice@example.com"].id
    assert payload["username"] == "alice"
    assert payload["provider"] == "local"
    assert payload["email"] == "alice@example.com"
    assert payload["iat"] == int(clock())
    assert payload["exp"] - payload["iat"] == 900


def test_it_answers_401_unauthorized_without_a_valid_access_token(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    token, _ = logged_in(sim)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for headers in ({}, bearer("garbage"), bearer(forged), {"Authorization": token}):
        response = requests.get(f"{sim.base_url}/api/user", headers=headers, timeout=TIMEOUT)
        assert (response.status_code, response.text) == (401, "Unauthorized")
    assert requests.get(f"{sim.base_url}/api/user", headers=bearer(token), timeout=5).ok
    clock.advance(900)
    response = requests.get(f"{sim.base_url}/api/user", headers=bearer(token), timeout=TIMEOUT)
    assert (response.status_code, response.text) == (401, "Unauthorized")


def test_it_answers_a_refresh_without_cookie_with_200_text(sim: LibreChatSimulator) -> None:
    response = refresh(sim, None)
    assert response.status_code == 200
    assert response.text == "Refresh token not provided"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_it_rotates_the_refresh_token_and_rejects_the_old_one(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    _, first = logged_in(sim)
    clock.advance(1)
    response = refresh(sim, first)
    assert response.status_code == 200
    assert set(response.json()) == {"token", "user"}
    second = cookie(response, "refreshToken")
    assert second != first
    old = refresh(sim, first)
    assert (old.status_code, old.text) == (401, "Refresh token expired or not found for this user")
    assert refresh(sim, second).status_code == 200


def test_it_answers_a_bad_or_expired_refresh_jwt_with_403_text(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    _, token = logged_in(sim)
    bad = refresh(sim, "not.a.jwt")
    assert (bad.status_code, bad.text) == (403, "Invalid refresh token")
    clock.advance(7 * 86400)
    expired = refresh(sim, token)
    assert (expired.status_code, expired.text) == (403, "Invalid refresh token")


def test_it_answers_no_session_found_when_retrying(sim: LibreChatSimulator, clock: FakeClock) -> None:
    _, first = logged_in(sim)
    clock.advance(1)
    refresh(sim, first)
    response = refresh(sim, first, query="?retry=true")
    assert (response.status_code, response.text) == (403, "No session found")


def test_it_returns_the_same_refresh_token_within_one_second(
    sim: LibreChatSimulator, clock: FakeClock
) -> None:
    _, token = logged_in(sim)
    clock.advance(5)
    once = cookie(refresh(sim, token), "refreshToken")
    clock.advance(0.2)
    twice = cookie(refresh(sim, once), "refreshToken")
    assert once == twice


def test_it_does_not_extend_the_refresh_session(sim: LibreChatSimulator, clock: FakeClock) -> None:
    sim.add_user("bob@example.com", PASSWORD)
    login_response = login(sim, "bob@example.com")
    token = cookie(login_response, "refreshToken")
    end = jwt_payload(token, DEFAULT_JWT_REFRESH_SECRET)["exp"]
    expires = set_cookies(login_response)[0].split("Expires=")[1].split(";")[0]
    clock.advance(3 * 86400)
    response = refresh(sim, token)
    assert jwt_payload(cookie(response, "refreshToken"), DEFAULT_JWT_REFRESH_SECRET)["exp"] == end
    assert set_cookies(response)[0].split("Expires=")[1].split(";")[0] == expires
    assert set(jwt_payload(token, DEFAULT_JWT_REFRESH_SECRET)) == {"id", "sessionId", "iat", "exp"}


def test_it_logs_out_deleting_the_session_and_clearing_cookies(
    sim: LibreChatSimulator,
) -> None:
    access, refresh_token = logged_in(sim)
    response = requests.post(
        f"{sim.base_url}/api/auth/logout",
        headers={**bearer(access), "Cookie": f"refreshToken={refresh_token}"},
        timeout=TIMEOUT,
    )
    assert (response.status_code, response.json()) == (200, {"message": "Logout successful"})
    assert [c.split(";")[0] for c in set_cookies(response)] == ["refreshToken=", "token_provider="]
    assert all("Expires=Thu, 01 Jan 1970 00:00:00 GMT" in c for c in set_cookies(response))
    assert sim.sessions_for("user@example.com") == []
    after = refresh(sim, refresh_token)
    assert (after.status_code, after.text) == (
        401,
        "Refresh token expired or not found for this user",
    )


def test_it_logs_out_some_session_of_the_user_when_no_cookie_is_sent(
    sim: LibreChatSimulator,
) -> None:
    # AuthService.logoutUser -> findSession({userId, refreshToken: undefined}): any session.
    access, _ = logged_in(sim)
    login(sim, "user@example.com")
    response = requests.post(f"{sim.base_url}/api/auth/logout", headers=bearer(access), timeout=TIMEOUT)
    assert response.status_code == 200
    assert len(sim.sessions_for("user@example.com")) == 1


def test_it_requires_a_bearer_token_to_log_out(sim: LibreChatSimulator) -> None:
    response = requests.post(f"{sim.base_url}/api/auth/logout", timeout=TIMEOUT)
    assert (response.status_code, response.text) == (401, "Unauthorized")


# ---- password reset ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/requestPasswordReset", "/api/auth/resetPassword"])
def test_it_refuses_password_reset_when_disabled_with_403_text(
    make_sim: Callable[..., LibreChatSimulator], path: str
) -> None:
    sim = make_sim(allow_password_reset=False)
    response = requests.post(f"{sim.base_url}{path}", json={"email": "a@b.co"}, timeout=TIMEOUT)
    assert (response.status_code, response.text) == (403, "Password reset is not allowed.")


def test_it_hands_out_the_reset_link_without_an_email_service(sim: LibreChatSimulator) -> None:
    user = sim.add_user("alice@example.com", PASSWORD)
    response = requests.post(
        f"{sim.base_url}/api/auth/requestPasswordReset",
        json={"email": "alice@example.com"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    link = response.json()["link"]
    prefix = "http://localhost:3080/reset-password?token="
    assert link.startswith(prefix)
    assert link.endswith(f"&userId={user.id}")
    assert sim.outbox == []


def test_it_emails_the_reset_link_with_an_email_service(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(email_service=True)
    sim.add_user("alice@example.com", PASSWORD)
    expected = {"message": "If an account with that email exists, a password reset link has been sent to it."}
    for email in ("alice@example.com", "nobody@example.com"):
        response = requests.post(
            f"{sim.base_url}/api/auth/requestPasswordReset", json={"email": email}, timeout=5
        )
        assert (response.status_code, response.json()) == (200, expected)
    assert [(m["to"], m["subject"]) for m in sim.outbox] == [("alice@example.com", "Password Reset Request")]
    assert "/reset-password?token=" in sim.outbox[0]["link"]


def reset_link(sim: LibreChatSimulator, email: str) -> tuple[str, str]:
    response = requests.post(
        f"{sim.base_url}/api/auth/requestPasswordReset", json={"email": email}, timeout=TIMEOUT
    )
    query = response.json()["link"].split("?", 1)[1]
    params = dict(part.split("=", 1) for part in query.split("&"))
    return params["userId"], params["token"]


def test_it_resets_the_password_and_deletes_every_session(sim: LibreChatSimulator) -> None:
    logged_in(sim, "alice@example.com")
    login(sim, "alice@example.com")
    assert len(sim.sessions_for("alice@example.com")) == 2
    user_id, token = reset_link(sim, "alice@example.com")
    response = requests.post(
        f"{sim.base_url}/api/auth/resetPassword",
        json={
            "userId": user_id,
            "token": token,
            "password": "brand new pw",
            "confirm_password": "brand new pw",
        },
        timeout=TIMEOUT,
    )
    assert (response.status_code, response.json()) == (
        200,
        {"message": "Password reset was successful"},
    )
    assert sim.sessions_for("alice@example.com") == []
    assert sim.check_password("alice@example.com", "brand new pw")
    assert login(sim, "alice@example.com").status_code == 404
    assert login(sim, "alice@example.com", "brand new pw").status_code == 200


def test_it_rejects_a_bad_or_expired_reset_token_with_400(sim: LibreChatSimulator, clock: FakeClock) -> None:
    sim.add_user("alice@example.com", PASSWORD)
    user_id, token = reset_link(sim, "alice@example.com")
    url = f"{sim.base_url}/api/auth/resetPassword"
    bad = requests.post(url, json={"userId": user_id, "token": "0" * 64, "password": "x" * 9}, timeout=5)
    assert bad.status_code == 400
    clock.advance(15 * 60 + 1)
    late = requests.post(url, json={"userId": user_id, "token": token, "password": "x" * 9}, timeout=5)
    assert late.status_code == 400
    assert sim.check_password("alice@example.com", PASSWORD)


def test_it_rate_limits_reset_requests_per_ip(sim: LibreChatSimulator) -> None:
    url = f"{sim.base_url}/api/auth/requestPasswordReset"
    for _ in range(2):
        assert requests.post(url, json={"email": "a@b.co"}, timeout=TIMEOUT).status_code == 200
    response = requests.post(url, json={"email": "a@b.co"}, timeout=TIMEOUT)
    assert response.status_code == 429
    assert response.json() == {"message": "Too many attempts, please try again after 2 minute(s)"}


# ---- bans -----------------------------------------------------------------------------------


def test_it_refuses_a_banned_ip_or_user_with_403(sim: LibreChatSimulator) -> None:
    sim.add_user("alice@example.com", PASSWORD)
    sim.add_user("bob@example.com", PASSWORD)
    banned = {"message": "Your account has been temporarily banned due to violations of our service."}
    sim.ban_ip("127.0.0.1")
    for response in (register(sim, "carol@example.com"), login(sim, "bob@example.com")):
        assert (response.status_code, response.json()) == (403, banned)
    sim.unban(ip="127.0.0.1")
    sim.ban_email("alice@example.com")
    response = login(sim, "alice@example.com")
    assert (response.status_code, response.json()) == (403, banned)
    assert login(sim, "bob@example.com").status_code == 200


# ---- current user and deletion -----------------------------------------------------------------


def test_it_returns_the_current_user_without_secrets(sim: LibreChatSimulator) -> None:
    token, _ = logged_in(sim)
    response = requests.get(f"{sim.base_url}/api/user", headers=bearer(token), timeout=TIMEOUT)
    assert response.status_code == 200
    user = response.json()
    assert user["_id"] == user["id"] == sim.users["user@example.com"].id
    for key in ("name", "username", "email", "emailVerified", "avatar", "provider", "role"):
        assert key in user
    assert not {"password", "totpSecret", "backupCodes", "__v"} & set(user)


def test_it_deletes_the_account_when_allowed(sim: LibreChatSimulator) -> None:
    token, _ = logged_in(sim)
    response = requests.delete(f"{sim.base_url}/api/user/delete", headers=bearer(token), timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (200, {"message": "User deleted"})
    assert sim.users == {}
    assert login(sim, "user@example.com").json() == {"message": "Email does not exist."}


def test_it_refuses_account_deletion_when_disabled_except_for_admins(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(allow_account_deletion=False)
    admin_token, _ = logged_in(sim, "admin@example.com")
    user_token, _ = logged_in(sim, "user@example.com")
    url = f"{sim.base_url}/api/user/delete"
    refused = requests.delete(url, headers=bearer(user_token), timeout=TIMEOUT)
    assert (refused.status_code, refused.json()) == (
        403,
        {"message": "You do not have permission to delete this account"},
    )
    assert requests.delete(url, headers=bearer(admin_token), timeout=TIMEOUT).status_code == 200
    assert list(sim.users) == ["user@example.com"]


# ---- user-provided keys ---------------------------------------------------------------------


def put_key(sim: LibreChatSimulator, token: str, **body: Any) -> requests.Response:
    return requests.put(f"{sim.base_url}/api/keys", json=body, headers=bearer(token), timeout=5)


def key_expiry(sim: LibreChatSimulator, token: str, name: str) -> Any:
    response = requests.get(
        f"{sim.base_url}/api/keys", params={"name": name}, headers=bearer(token), timeout=TIMEOUT
    )
    assert response.status_code == 200
    return response.json()


def test_it_stores_a_user_key_with_201_and_an_empty_body(sim: LibreChatSimulator) -> None:
    token, _ = logged_in(sim)
    value = json.dumps({"apiKey": "sk-first"})
    response = put_key(sim, token, name="LiteLLM", value=value, expiresAt=None)
    assert response.status_code == 201
    assert response.content == b""
    assert sim.user_keys("user@example.com") == {"LiteLLM": value}
    put_key(sim, token, name="LiteLLM", value=json.dumps({"apiKey": "sk-second"}))
    assert sim.user_keys("user@example.com") == {"LiteLLM": '{"apiKey": "sk-second"}'}


def test_it_reports_key_expiry_as_a_date_never_or_null(sim: LibreChatSimulator) -> None:
    token, _ = logged_in(sim)
    put_key(sim, token, name="dated", value="v", expiresAt="2026-12-31T10:00:00Z")
    put_key(sim, token, name="forever", value="v", expiresAt=None)
    assert key_expiry(sim, token, "dated") == {"expiresAt": "2026-12-31T10:00:00.000Z"}
    assert key_expiry(sim, token, "forever") == {"expiresAt": "never"}
    assert key_expiry(sim, token, "missing") == {"expiresAt": None}


def test_it_deletes_one_key_or_all_keys_with_204(sim: LibreChatSimulator) -> None:
    token, _ = logged_in(sim)
    for name in ("one", "two", "three"):
        put_key(sim, token, name=name, value="v")
    url = f"{sim.base_url}/api/keys"
    assert requests.delete(f"{url}/one", headers=bearer(token), timeout=TIMEOUT).status_code == 204
    assert set(sim.user_keys("user@example.com")) == {"two", "three"}
    refused = requests.delete(url, headers=bearer(token), timeout=TIMEOUT)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "Specify either all=true to delete."},
    )
    response = requests.delete(f"{url}?all=true", headers=bearer(token), timeout=TIMEOUT)
    assert (response.status_code, response.content) == (204, b"")
    assert sim.user_keys("user@example.com") == {}


def test_it_requires_a_bearer_token_for_keys(sim: LibreChatSimulator) -> None:
    response = requests.put(f"{sim.base_url}/api/keys", json={"name": "x", "value": "y"}, timeout=5)
    assert (response.status_code, response.text) == (401, "Unauthorized")


def test_it_echoes_a_malformed_json_body_with_400(sim: LibreChatSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/api/auth/register",
        data=b'{"name": ',
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert (response.status_code, response.text) == (400, '{"name": ')


def test_it_changes_settings_assigned_as_attributes(sim: LibreChatSimulator) -> None:
    sim.allow_registration = False
    assert sim.settings["allow_registration"] is False
    assert register(sim, "alice@example.com").status_code == 403


def test_it_keys_clients_on_x_forwarded_for_when_trusting_the_proxy(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    sim = make_sim(register_max=1, trust_proxy=True)

    def register_via(client_ip: str, email: str) -> int:
        body = {"name": "Bob", "email": email, "password": PASSWORD, "confirm_password": PASSWORD}
        headers = {"X-Forwarded-For": f"203.0.113.9, {client_ip}"}
        url = f"{sim.base_url}/api/auth/register"
        return requests.post(url, json=body, headers=headers, timeout=TIMEOUT).status_code

    assert register_via("198.51.100.1", "a@example.com") == 200
    assert register_via("198.51.100.1", "b@example.com") == 429
    assert register_via("198.51.100.2", "b@example.com") == 200


# ---- faults -----------------------------------------------------------------------------------


def test_it_adds_latency(sim: LibreChatSimulator) -> None:
    sim.set_faults(latency=0.3)
    started = time.monotonic()
    assert requests.get(f"{sim.base_url}/health", timeout=TIMEOUT).ok
    assert time.monotonic() - started >= 0.3


def test_it_answers_500_at_the_error_rate_without_doing_the_work(
    sim: LibreChatSimulator,
) -> None:
    sim.set_faults(error_rate=1.0)
    response = register(sim, "alice@example.com")
    assert (response.status_code, response.json()) == (500, {"message": "Something went wrong"})
    assert sim.users == {}


def test_it_overrides_the_status_on_chosen_paths_only(sim: LibreChatSimulator) -> None:
    sim.set_faults(status_override=502, status_override_body="Bad Gateway", fault_paths=["/api/auth/*"])
    response = register(sim, "alice@example.com")
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert requests.get(f"{sim.base_url}/health", timeout=TIMEOUT).status_code == 200


def test_it_hangs_until_the_client_times_out(sim: LibreChatSimulator) -> None:
    sim.set_faults(hang_rate=1.0, hang_max_s=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sim.base_url}/health", timeout=0.3)
    sim.clear_faults()
    assert requests.get(f"{sim.base_url}/health", timeout=TIMEOUT).ok


def test_it_hangs_on_timeout_paths_only(sim: LibreChatSimulator) -> None:
    sim.set_faults(timeout_paths=["/api/auth/login"], hang_max_s=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{sim.base_url}/api/auth/login", json={}, timeout=0.3)
    assert requests.get(f"{sim.base_url}/health", timeout=TIMEOUT).ok


def test_it_does_the_work_but_loses_the_answer(sim: LibreChatSimulator) -> None:
    sim.set_faults(lose_answer_after_write=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        register(sim, "alice@example.com")
    assert "alice@example.com" in sim.users


def test_it_refuses_connections_while_stopped_and_returns_on_the_same_port(
    sim: LibreChatSimulator,
) -> None:
    sim.add_user("alice@example.com", PASSWORD)
    port = sim.port
    sim.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sim.base_url}/health", timeout=TIMEOUT)
    sim.start()
    assert sim.port == port
    assert requests.get(f"{sim.base_url}/health", timeout=TIMEOUT).text == "OK"
    assert login(sim, "alice@example.com").status_code == 200


def test_it_draws_faults_deterministically_from_the_seed(
    make_sim: Callable[..., LibreChatSimulator],
) -> None:
    def statuses(sim: LibreChatSimulator) -> list[int]:
        sim.set_faults(error_rate=0.5)
        return [requests.get(f"{sim.base_url}/health", timeout=5).status_code for _ in range(12)]

    first = statuses(make_sim(seed=7))
    assert first == statuses(make_sim(seed=7))
    assert set(first) == {200, 500}


# ---- inspection and control ----------------------------------------------------------------------


def test_it_exposes_users_keys_sessions_and_calls_for_inspection(
    sim: LibreChatSimulator,
) -> None:
    token, _ = logged_in(sim, "alice@example.com")
    put_key(sim, token, name="LiteLLM", value="secret value")
    assert sim.check_password("alice@example.com", PASSWORD)
    assert not sim.check_password("alice@example.com", "wrong")
    assert sim.user_keys("ALICE@example.com") == {"LiteLLM": "secret value"}
    assert [s.user_id for s in sim.sessions_for("alice@example.com")] == [sim.users["alice@example.com"].id]
    assert sim.calls[("POST", "/api/auth/login")] == 1
    assert sim.calls[("PUT", "/api/keys")] == 1
    sim.reset_calls()
    assert sum(sim.calls.values()) == 0


def test_it_guards_the_control_api_with_the_control_token(sim: LibreChatSimulator) -> None:
    url = f"{sim.base_url}/_sim/state"
    assert requests.get(url, timeout=TIMEOUT).status_code == 403
    assert requests.get(url, headers={CONTROL_HEADER: "wrong"}, timeout=TIMEOUT).status_code == 403
    response = requests.get(url, headers={CONTROL_HEADER: sim.control_token}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["users"] == 0
    assert sum(sim.calls.values()) == 0  # control calls are not counted


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_it_runs_as_a_process_driven_through_the_control_api() -> None:
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "tests.simulators.librechat", "--port", str(port)]
    command += ["--control-token", "tok", "--register-max", "1"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"READY http://127.0.0.1:{port}"
        base = f"http://127.0.0.1:{port}"
        control = {CONTROL_HEADER: "tok"}

        seeded = requests.post(
            f"{base}/_sim/users",
            json={"email": "seed@example.com", "password": PASSWORD, "verified": True},
            headers=control,
            timeout=TIMEOUT,
        )
        assert seeded.status_code == 201
        assert requests.post(
            f"{base}/api/auth/login",
            json={"email": "seed@example.com", "password": PASSWORD},
            timeout=TIMEOUT,
        ).ok

        body = {"name": "Bob", "email": "b@example.com", "password": PASSWORD}
        body["confirm_password"] = PASSWORD
        assert requests.post(f"{base}/api/auth/register", json=body, timeout=5).status_code == 200
        limited = requests.post(f"{base}/api/auth/register", json=body, timeout=TIMEOUT)
        assert limited.status_code == 429
        configured = requests.post(
            f"{base}/_sim/config",
            json={"register_max": 10, "reset_rate_limits": True, "error_rate": 1.0},
            headers=control,
            timeout=TIMEOUT,
        )
        assert configured.json()["settings"]["register_max"] == 10
        assert requests.get(f"{base}/health", timeout=TIMEOUT).status_code == 500

        state = requests.get(f"{base}/_sim/state", headers=control, timeout=TIMEOUT).json()
        assert state["users"] == 2
        assert state["calls"]["POST /api/auth/register"] == 2
        assert state["calls"]["GET /health"] == 1
        assert {u["email"] for u in state["user_list"]} == {"seed@example.com", "b@example.com"}

        assert requests.post(f"{base}/_sim/reset", headers=control, timeout=TIMEOUT).ok
        state = requests.get(f"{base}/_sim/state", headers=control, timeout=TIMEOUT).json()
        assert (state["users"], state["total_calls"], state["faults"]["error_rate"]) == (0, 0, 0.0)
        assert requests.post(f"{base}/_sim/state", timeout=TIMEOUT).status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
    assert process.returncode == 0
