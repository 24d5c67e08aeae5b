"""LibreChat's HTTP API as the portal uses it (contracts/librechat.md): pure HTTP, typed results.

Nothing here knows Django models. Every failure is a `VendorError` from integrations/http.py
whose `retryable` says whether trying later can help; the LibreChat-specific answers the
portal must tell apart (2FA pending, a refused refresh token) are subclasses of it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from dataclasses import dataclass
from http.cookiejar import CookiePolicy
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from integrations.http import ErrorKind, VendorBadResponse, VendorHTTP, VendorHTTPError, error_message_from

__all__ = [
    "BAN_MESSAGE",
    "LibreChatClient",
    "LibreChatConfig",
    "LibreChatTwoFactorPending",
    "LibreChatUser",
    "PasswordResetRequest",
    "RefreshRejected",
    "SessionTokens",
    "client_for",
]

VENDOR = "LibreChat"
# Contract "Register": the answer to a banned IP or user (api/server/middleware/checkBan.js);
# the ban is temporary, so unlike the other 403s it is worth retrying later.
BAN_MESSAGE = "Your account has been temporarily banned due to violations of our service."
# Contract "Tokens": SESSION_EXPIRY defaults to 15 minutes; used only when a token has no exp.
DEFAULT_ACCESS_LIFETIME = dt.timedelta(minutes=15)
DEFAULT_REFRESH_LIFETIME = dt.timedelta(days=7)


class LibreChatTwoFactorPending(VendorBadResponse):
    """Login answered 200 {"twoFAPending": true}: the account needs a human with the second factor."""


class RefreshRejected(VendorHTTPError):
    """The refresh token no longer works (rotated away, expired, unknown): log in again."""


@dataclass(frozen=True)
class LibreChatUser:
    id: str
    email: str
    name: str
    username: str
    role: str
    email_verified: bool


@dataclass(frozen=True, repr=False)
class SessionTokens:
    """What login and refresh hand back. repr hides the tokens (they end up in tracebacks)."""

    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str
    refresh_expires_at: dt.datetime
    user: LibreChatUser

    def __repr__(self) -> str:
        return (
            f"SessionTokens(user={self.user.email!r}, access_expires_at={self.access_expires_at.isoformat()})"
        )


@dataclass(frozen=True, repr=False)
class PasswordResetRequest:
    """requestPasswordReset's answer: with no email service LibreChat returns the link itself."""

    emailed: bool
    user_id: str = ""
    token: str = ""

    def __repr__(self) -> str:
        return f"PasswordResetRequest(emailed={self.emailed}, user_id={self.user_id!r})"


@dataclass(frozen=True)
class LibreChatConfig:
    registration_enabled: bool
    email_login_enabled: bool
    password_reset_enabled: bool
    email_enabled: bool
    server_domain: str
    app_title: str
    version: str = ""  # only where LibreChat's config names one


class _NoCookies(CookiePolicy):
    """The pooled session is shared by every person: it must never keep anyone's cookie.

    LibreChat's refresh cookie is Secure in production (contract "Tokens"), so a jar would not
    send it back over plain http://librechat-api:3080 anyway; the portal carries it explicitly.
    """

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def _classify(response: requests.Response, message: str) -> bool | None:
    if response.status_code == 403 and message == BAN_MESSAGE:
        return True
    return None


def _error_message(response: requests.Response) -> str:
    """LibreChat's words: `{"message": ...}` in JSON, or a bare text body (contract "Tokens")."""
    return error_message_from(response, limit=200, from_envelope=_librechat_words)


def _librechat_words(body: dict[str, Any]) -> str | None:
    for key in ("message", "error"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def jwt_expiry(token: str) -> dt.datetime | None:
    """The `exp` of a JWT, read without verifying (we only need to know when to refresh)."""
    try:
        payload_part = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4)))
        return dt.datetime.fromtimestamp(int(payload["exp"]), tz=dt.UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _refresh_cookie(response: requests.Response) -> str | None:
    raw = getattr(response, "raw", None)
    headers = getattr(raw, "headers", None)
    values = headers.getlist("Set-Cookie") if headers is not None and hasattr(headers, "getlist") else []
    for value in values:
        name, _, rest = value.partition("=")
        if name.strip() == "refreshToken":
            token = rest.split(";", 1)[0].strip()
            return token or None
    return None


class LibreChatClient:
    def __init__(self, *, base_url: str, http: VendorHTTP | None = None) -> None:
        self.http = http or _new_http(base_url)

    # --- health and public config -------------------------------------------------------

    def health(self) -> bool:
        """GET /health answers the text OK (there is no /api/health, contract "Health")."""
        response = self.http.request("GET", "/health", headers={"Accept": "text/plain"})
        if response.content.strip() != b"OK":
            raise self.http.bad_shape(response, f"/health answered {response.content[:60]!r}, not OK")
        return True

    def config(self) -> LibreChatConfig:
        body = self.http.json("GET", "/api/config")
        if not isinstance(body, dict):
            raise self.http.bad_shape(self.http.url("/api/config"), "the config is not an object")
        return LibreChatConfig(
            registration_enabled=bool(body.get("registrationEnabled")),
            email_login_enabled=bool(body.get("emailLoginEnabled", True)),
            password_reset_enabled=bool(body.get("passwordResetEnabled")),
            email_enabled=bool(body.get("emailEnabled")),
            server_domain=str(body.get("serverDomain") or ""),
            app_title=str(body.get("appTitle") or ""),
            version=str(body.get("version") or ""),
        )

    # --- accounts -----------------------------------------------------------------------

    def register(self, *, name: str, email: str, password: str, username: str = "") -> None:
        """POST /api/auth/register. A 200 means "created" OR "already existed" (contract
        "Register"): it never logs in, so callers confirm with `login`."""
        self.http.request(
            "POST",
            "/api/auth/register",
            json_body={
                "name": name,
                "username": username,
                "email": email,
                "password": password,
                "confirm_password": password,
            },
        )

    def login(self, *, email: str, password: str) -> SessionTokens:
        response = self.http.request(
            "POST", "/api/auth/login", json_body={"email": email, "password": password}
        )
        body = self.http.parse_json(response)
        if isinstance(body, dict) and body.get("twoFAPending"):
            raise LibreChatTwoFactorPending(
                f"{VENDOR} asks for a second factor for {email}: the portal cannot sign in to an "
                "account with 2FA on",
                kind=ErrorKind.BAD_SHAPE,
                retryable=False,
                vendor=VENDOR,
                url=self.http.url("/api/auth/login"),
                status=response.status_code,
            )
        return self._tokens(response, body, "/api/auth/login")

    def refresh(self, *, refresh_token: str) -> SessionTokens:
        """POST /api/auth/refresh with the cookie sent as an explicit header (contract "Tokens").

        The refresh token rotates: the old one stops working once this returns.
        """
        response = self.http.request(
            "POST",
            "/api/auth/refresh",
            headers={"Cookie": f"refreshToken={refresh_token}"},
            ok_statuses=(302, 401, 403),
        )
        text = response.content[:200].decode("utf-8", "replace").strip()
        # Text bodies, not JSON: 200 "Refresh token not provided", 401 "Refresh token expired or
        # not found for this user", 403 "Invalid refresh token", 302 to /login for a deleted
        # user (AuthController.js refreshController).
        if response.status_code != 200 or not text.startswith("{"):
            raise RefreshRejected(
                f"{VENDOR} refused the refresh token ({response.status_code}: {text})",
                kind=ErrorKind.HTTP_STATUS,
                retryable=False,
                vendor=VENDOR,
                url=self.http.url("/api/auth/refresh"),
                status=response.status_code,
                vendor_message=text,
            )
        return self._tokens(response, self.http.parse_json(response), "/api/auth/refresh")

    def logout(self, *, access_token: str, refresh_token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {access_token}"}
        if refresh_token:
            # Without the cookie LibreChat deletes "a" session of the user, maybe another one.
            headers["Cookie"] = f"refreshToken={refresh_token}"
        self.http.request("POST", "/api/auth/logout", headers=headers)

    def current_user(self, *, access_token: str) -> LibreChatUser:
        body = self.http.json("GET", "/api/user", headers={"Authorization": f"Bearer {access_token}"})
        return self._user(body, "/api/user")

    def password_reset_request(self, *, email: str) -> PasswordResetRequest:
        """With an email service LibreChat mails the link; without one it answers with the link
        itself (contract "Password reset"), which lets the portal finish the reset."""
        body = self.http.json("POST", "/api/auth/requestPasswordReset", json_body={"email": email})
        if not isinstance(body, dict):
            raise self.http.bad_shape(self.http.url("/api/auth/requestPasswordReset"), "not an object")
        link = body.get("link")
        if not isinstance(link, str):
            return PasswordResetRequest(emailed=True)
        query = parse_qs(urlsplit(link).query)
        token = (query.get("token") or [""])[0]
        user_id = (query.get("userId") or [""])[0]
        if not token or not user_id:
            raise self.http.bad_shape(
                self.http.url("/api/auth/requestPasswordReset"), "the reset link has no token or userId"
            )
        return PasswordResetRequest(emailed=False, user_id=user_id, token=token)

    def password_reset_complete(self, *, user_id: str, token: str, password: str) -> None:
        """Every session of that user is deleted by LibreChat when this succeeds."""
        self.http.request(
            "POST",
            "/api/auth/resetPassword",
            json_body={"userId": user_id, "token": token, "password": password, "confirm_password": password},
        )

    # --- user-provided keys (as the user) ---------------------------------------------------

    def user_key_put(
        self, *, access_token: str, name: str, value: str, expires_at: dt.datetime | None = None
    ) -> None:
        """PUT /api/keys (201, empty body). For a custom endpoint with apiKey user_provided,
        `value` must itself be a JSON string such as '{"apiKey":"sk-..."}' (contract "/api/keys")."""
        self.http.request(
            "PUT",
            "/api/keys",
            headers={"Authorization": f"Bearer {access_token}"},
            json_body={
                "name": name,
                "value": value,
                "expiresAt": expires_at.isoformat() if expires_at else None,
            },
        )

    def user_key_expiry(self, *, access_token: str, name: str) -> str | None:
        """None when there is no key, "never", or an ISO date."""
        body = self.http.json(
            "GET", "/api/keys", params={"name": name}, headers={"Authorization": f"Bearer {access_token}"}
        )
        if not isinstance(body, dict) or "expiresAt" not in body:
            raise self.http.bad_shape(self.http.url("/api/keys"), "no expiresAt in the answer")
        value = body["expiresAt"]
        return None if value is None else str(value)

    def user_key_delete(self, *, access_token: str, name: str) -> None:
        self.http.request(
            "DELETE", f"/api/keys/{quote(name, safe='')}", headers={"Authorization": f"Bearer {access_token}"}
        )

    def account_delete(self, *, access_token: str) -> None:
        """DELETE /api/user/delete as the user; 403 where ALLOW_ACCOUNT_DELETION is off
        (contract "Deleting an account")."""
        self.http.request("DELETE", "/api/user/delete", headers={"Authorization": f"Bearer {access_token}"})

    # --- parsing ----------------------------------------------------------------------------

    def _user(self, body: Any, path: str) -> LibreChatUser:
        if not isinstance(body, dict):
            raise self.http.bad_shape(self.http.url(path), "the user is not an object")
        # v0.8.1 may omit `id`; `_id` is always there (contract "Login").
        user_id = body.get("_id") or body.get("id")
        email = body.get("email")
        if not isinstance(user_id, str) or not isinstance(email, str):
            raise self.http.bad_shape(self.http.url(path), "the user has no _id or email")
        return LibreChatUser(
            id=user_id,
            email=email,
            name=str(body.get("name") or ""),
            username=str(body.get("username") or ""),
            role=str(body.get("role") or ""),
            email_verified=bool(body.get("emailVerified")),
        )

    def _tokens(self, response: requests.Response, body: Any, path: str) -> SessionTokens:
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise self.http.bad_shape(response, "no token in the answer")
        refresh = _refresh_cookie(response)
        if not refresh:
            raise self.http.bad_shape(response, "no refreshToken cookie in the answer")
        now = dt.datetime.now(tz=dt.UTC)
        access = body["token"]
        return SessionTokens(
            access_token=access,
            access_expires_at=jwt_expiry(access) or now + DEFAULT_ACCESS_LIFETIME,
            refresh_token=refresh,
            refresh_expires_at=jwt_expiry(refresh) or now + DEFAULT_REFRESH_LIFETIME,
            user=self._user(body.get("user"), path),
        )


def _new_http(base_url: str) -> VendorHTTP:
    http = VendorHTTP(vendor=VENDOR, base_url=base_url, error_message=_error_message, classify=_classify)
    http.session.cookies.set_policy(_NoCookies())
    return http


_clients: dict[str, LibreChatClient] = {}
_clients_lock = threading.Lock()


def client_for(base_url: str) -> LibreChatClient:
    """One pooled client per LibreChat base URL per process (connections are reused)."""
    key = base_url.rstrip("/")
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = LibreChatClient(base_url=key)
        return client
