"""A LibreChat contract simulator for the portal's tests.

It speaks the slice of LibreChat's HTTP API described in ``/work/shared/contracts/librechat.md``
over real sockets, with LibreChat's own quirks (404 on validation errors, text bodies on the
refresh route, per-IP rate limits that count every attempt, ...). Where the contract is silent
the behaviour follows LibreChat's source; each quirk cites the contract section or the
source path it comes from.

Standard library only. Use it in-process::

    with LibreChatSimulator(register_max=2, register_window_s=1.0) as sim:
        requests.post(f"{sim.base_url}/api/auth/register", json={...})

or as a process driven through the ``/_sim/`` control API::

    python -m tests.simulators.librechat --port 3080 --control-token secret
    # prints "READY http://127.0.0.1:3080"
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["LibreChatSimulator", "SimSession", "SimUser", "main"]

CONTROL_HEADER = "X-Sim-Token"
CONTROL_TOKEN_ENV = "LIBRECHAT_SIM_CONTROL_TOKEN"
# LibreChat's JWT_SECRET / JWT_REFRESH_SECRET (test values, not secrets).
DEFAULT_JWT_SECRET = "sim-jwt-secret"
DEFAULT_JWT_REFRESH_SECRET = "sim-jwt-refresh-secret"

# Contract "Register": the one reply for "created" and "already there".
# Source: api/server/services/AuthService.js (genericVerificationMessage).
GENERIC_REGISTER_MESSAGE = "Please check your email to verify your email address."
# Source: api/server/services/AuthService.js (requestPasswordReset).
GENERIC_RESET_MESSAGE = "If an account with that email exists, a password reset link has been sent to it."
# Contract "Register" / source: api/server/middleware/checkBan.js.
BAN_MESSAGE = "Your account has been temporarily banned due to violations of our service."
SOMETHING_WENT_WRONG = "Something went wrong"

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


class _Missing:
    """A key absent from the request body (JavaScript's ``undefined``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# --------------------------------------------------------------------------------------------
# Small JavaScript-flavoured helpers
# --------------------------------------------------------------------------------------------


def _js_json(obj: Any) -> bytes:
    """``JSON.stringify``: compact, non-ASCII kept as is."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _js_number(value: float) -> str:
    """Format a number as JavaScript's ``String(n)`` would (``60``, ``0.5``)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _js_typeof(value: Any) -> str:
    if value is MISSING:
        return "undefined"
    if value is None or isinstance(value, dict | list):
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _js_truthy(value: Any) -> bool:
    if value is MISSING or value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return not (isinstance(value, str) and value == "")


def _zod_type(value: Any) -> str:
    """zod's ``getParsedType`` names, used in "Expected string, received X"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "nan" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _utf16_len(text: str) -> int:
    """JavaScript string length (UTF-16 code units), which zod's min/max count."""
    return len(text.encode("utf-16-le")) // 2


def _iso_ms(ts: float) -> str:
    """``Date.prototype.toISOString``: ``2026-01-01T00:00:00.000Z``."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _http_date(ts: float) -> str:
    """``Date.prototype.toUTCString`` as written into ``Expires=`` by Express."""
    return formatdate(ts, usegmt=True)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _JwtError(Exception):
    pass


def _jwt_sign(payload: dict[str, Any], secret: str) -> str:
    """HS256 JWT as ``jsonwebtoken.sign`` writes it (header ``{"alg":"HS256","typ":"JWT"}``)."""
    header = _b64url(_js_json({"alg": "HS256", "typ": "JWT"}))
    body = _b64url(_js_json(payload))
    signing_input = f"{header}.{body}".encode("ascii")
    signature = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_b64url(signature)}"


def _jwt_verify(token: str, secret: str, now: float) -> dict[str, Any]:
    """``jsonwebtoken.verify``: HS256 only, expired when ``floor(now) >= exp``."""
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_b64url_decode(head_b64))
        signature = _b64url_decode(sig_b64)
        payload = json.loads(_b64url_decode(body_b64))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _JwtError("jwt malformed") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise _JwtError("invalid algorithm")
    expected = hmac.new(
        secret.encode("utf-8"), f"{head_b64}.{body_b64}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(signature, expected):
        raise _JwtError("invalid signature")
    if not isinstance(payload, dict):
        raise _JwtError("invalid payload")
    exp = payload.get("exp")
    if isinstance(exp, int | float) and math.floor(now) >= exp:
        raise _JwtError("jwt expired")
    return payload


def _hash_password(password: str, salt: bytes | None = None) -> str:
    """Salted PBKDF2 standing in for bcrypt.

    bcrypt only reads the first 72 bytes of a password (bcryptjs does the same), so the
    simulator hashes only those: two passwords sharing their first 72 bytes match, as on
    a real LibreChat.
    """
    salt = salt if salt is not None else secrets.token_bytes(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8")[:72], salt, 1000)
    return f"pbkdf2${salt.hex()}${digest.hex()}"


def _password_matches(password: str, stored: str) -> bool:
    try:
        _, salt_hex, _ = stored.split("$")
        candidate = _hash_password(password, bytes.fromhex(salt_hex))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, stored)


def _sha256_hex(text: str) -> str:
    """``hashToken`` in LibreChat's crypto utils: SHA-256 hex of the refresh token."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parse_cookies(header: str | None) -> dict[str, str]:
    """``cookie.parse``: first occurrence wins, values percent-decoded."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for part in header.split(";"):
        if "=" not in part:
            continue
        name, value = part.split("=", 1)
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name and name not in cookies:
            cookies[name] = unquote(value)
    return cookies


def _parse_js_date(value: Any) -> float | None:
    """``new Date(value)`` for the shapes a client sends; None when JS would say Invalid Date."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            # Date-only ISO strings are UTC in JavaScript.
            moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return moment.timestamp()


# --------------------------------------------------------------------------------------------
# Validation: zod v3 as LibreChat uses it (api/strategies/validators.js)
# --------------------------------------------------------------------------------------------

# zod 3.22's email regex (z.string().email()).
_EMAIL_RE = re.compile(
    r"(?!\.)(?!.*\.\.)([A-Z0-9_'+\-.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}",
    re.IGNORECASE,
)
# api/strategies/validators.js: injectionPatternsRegex.
_INJECTION_RE = re.compile(r"('|--|\$ne|\$gt|\$lt|\$or|\{|\}|\*|;|<|>|/|=)", re.IGNORECASE)
_SCRIPT_PREFIXES = (
    "LATIN",
    "CYRILLIC",
    "DEVANAGARI",
    "CJK",
    "ARABIC",
    "HIRAGANA",
    "KATAKANA",
    "HANGUL",
)


def _username_char_allowed(ch: str) -> bool:
    """Approximates validators.js' ``allowedCharactersRegex``.

    The real regex admits ``\\p{Script=Latin|Common|Cyrillic|Devanagari|Han|Arabic|Hiragana|
    Katakana|Hangul}``. Python's ``re`` has no script classes: ASCII is all Latin or Common,
    letters are matched by their Unicode name prefix, and punctuation, symbols, separators and
    controls stand in for the Common script.
    """
    if ch.isascii():
        return True
    if unicodedata.name(ch, "").startswith(_SCRIPT_PREFIXES):
        return True
    return unicodedata.category(ch)[0] in "PSZ" or unicodedata.category(ch) in ("Cc", "Cf")


Issue = tuple[list[str], str]


def _string_issues(
    value: Any,
    path: str,
    *,
    min_len: int | None = None,
    max_len: int | None = None,
    email: bool = False,
    refinements: Iterable[tuple[Callable[[str], bool], str]] = (),
) -> tuple[list[Issue], bool]:
    """Issues of one ``z.string()...`` field and whether the parse was aborted.

    A type error aborts (zod returns INVALID); failed checks and refinements only make the
    result "dirty", so every check and refinement still runs and reports.
    """
    if value is MISSING:
        return [([path], "Required")], True
    if not isinstance(value, str):
        return [([path], f"Expected string, received {_zod_type(value)}")], True
    issues: list[Issue] = []
    length = _utf16_len(value)
    if min_len is not None and length < min_len:
        issues.append(([path], f"String must contain at least {min_len} character(s)"))
    if max_len is not None and length > max_len:
        issues.append(([path], f"String must contain at most {max_len} character(s)"))
    if email and not _EMAIL_RE.fullmatch(value):
        issues.append(([path], "Invalid email"))
    for check, message in refinements:
        if not check(value):
            issues.append(([path], message))
    return issues, False


def _not_only_spaces(value: str) -> bool:
    return value.strip() != ""


def _password_field(value: Any, path: str, min_len: int) -> tuple[list[Issue], bool]:
    return _string_issues(
        value,
        path,
        min_len=min_len,
        max_len=128,
        refinements=[(_not_only_spaces, "Password cannot be only spaces")],
    )


def _username_issues(value: Any) -> tuple[list[Issue], bool]:
    """``z.union([z.literal(''), usernameSchema]).optional().nullable()``."""
    if value is MISSING or value is None or value == "":
        return [], False
    if not isinstance(value, str):
        # Both union members fail with type errors: zod reports the union itself.
        return [(["username"], "Invalid input")], True
    return _string_issues(
        value,
        "username",
        min_len=2,
        max_len=80,
        refinements=[
            (lambda v: all(_username_char_allowed(c) for c in v), "Invalid characters in username"),
            (lambda v: _INJECTION_RE.search(v) is None, "Potential injection attack detected"),
        ],
    )


def _errors_to_string(issues: list[Issue]) -> str:
    """librechat-data-provider ``errorsToString``: ``path: message`` joined by spaces."""
    return " ".join(f"{'.'.join(path)}: {message}" for path, message in issues)


def _validate_register(body: Any, min_password_length: int) -> str | None:
    if not isinstance(body, dict):
        return _errors_to_string([([], f"Expected object, received {_zod_type(body)}")])
    issues: list[Issue] = []
    aborted = False
    fields: list[tuple[list[Issue], bool]] = [
        _string_issues(body.get("name", MISSING), "name", min_len=3, max_len=80),
        _username_issues(body.get("username", MISSING)),
        _string_issues(body.get("email", MISSING), "email", email=True),
        _password_field(body.get("password", MISSING), "password", min_password_length),
        _password_field(body.get("confirm_password", MISSING), "confirm_password", min_password_length),
    ]
    for field_issues, field_aborted in fields:
        issues.extend(field_issues)
        aborted = aborted or field_aborted
    # superRefine runs only when no field aborted; its issue has no path, hence the
    # contract's ": The passwords did not match".
    if not aborted and body.get("password") != body.get("confirm_password"):
        issues.append(([], "The passwords did not match"))
    return _errors_to_string(issues) if issues else None


def _validate_login(body: Any, min_password_length: int) -> str | None:
    if not isinstance(body, dict):
        return _errors_to_string([([], f"Expected object, received {_zod_type(body)}")])
    issues: list[Issue] = []
    issues += _string_issues(body.get("email", MISSING), "email", email=True)[0]
    issues += _password_field(body.get("password", MISSING), "password", min_password_length)[0]
    return _errors_to_string(issues) if issues else None


# --------------------------------------------------------------------------------------------
# State records
# --------------------------------------------------------------------------------------------


@dataclass
class SimUser:
    """One LibreChat user document (the fields the portal can observe)."""

    id: str
    email: str
    name: str
    username: str
    password_hash: str
    email_verified: bool
    role: str
    two_fa: bool
    created_at: float
    updated_at: float
    totp_code: str = "123456"

    def document(self) -> dict[str, Any]:
        """The stored document without secrets (``-password -totpSecret -backupCodes``)."""
        return {
            "_id": self.id,
            "name": self.name,
            "username": self.username,
            "email": self.email,
            "emailVerified": self.email_verified,
            "avatar": None,
            "provider": "local",
            "role": self.role,
            "plugins": [],
            "twoFactorEnabled": self.two_fa,
            "termsAccepted": False,
            "createdAt": _iso_ms(self.created_at),
            "updatedAt": _iso_ms(self.updated_at),
            "__v": 0,
        }


@dataclass
class SimSession:
    """A refresh session (LibreChat's ``Session`` collection)."""

    id: str
    user_id: str
    expiration: float
    refresh_hash: str
    created_at: float


@dataclass
class _Key:
    value: str
    expires_at: float | None


@dataclass
class _ResetToken:
    token_hash: str
    created_at: float


@dataclass
class _Bucket:
    count: int
    reset_at: float


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    raw_body: bytes
    body: Any
    ip: str

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0


def _json(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    return _Response(status, _js_json(obj), JSON_TYPE, list(headers))


def _text(status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    """``res.send(string)``: Express labels every string body ``text/html``."""
    return _Response(status, text.encode("utf-8"), HTML_TYPE, list(headers))


def _empty(status: int) -> _Response:
    return _Response(status)


def _unauthorized() -> _Response:
    # passport's allFailed(): res.statusCode = 401; res.end('Unauthorized') with no
    # Content-Type (passport-jwt fails with an Error, so no WWW-Authenticate either).
    return _Response(401, b"Unauthorized", None)


SETTING_NAMES = frozenset(
    {
        "allow_registration",
        "allowed_domains",
        "email_service",
        "allow_password_reset",
        "allow_unverified_email_login",
        "allow_email_login",
        "allow_account_deletion",
        "register_max",
        "register_window_s",
        "login_max",
        "login_window_s",
        "reset_max",
        "reset_window_s",
        "session_expiry_s",
        "refresh_expiry_s",
        "min_password_length",
        "secure_cookies",
        "existing_email_delay_s",
        "reset_token_ttl_s",
        "domain_client",
        "domain_server",
        "app_title",
        "ready",
        "trust_proxy",
        "jwt_secret",
        "jwt_refresh_secret",
    }
)

DEFAULT_FAULTS: dict[str, Any] = {
    "latency": 0.0,
    "error_rate": 0.0,
    "status_override": None,
    "status_override_body": None,
    "hang_rate": 0.0,
    "hang_max_s": 30.0,
    "timeout_paths": [],
    "lose_answer_after_write": 0.0,
    "fault_paths": None,
}


def _path_matches(path: str, patterns: Iterable[str]) -> bool:
    """Exact match, or prefix match for a pattern ending in ``*``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern:
            return True
    return False


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------


class LibreChatSimulator:
    """An in-memory LibreChat API on a real socket.

    Every setting named in ``SETTING_NAMES`` can be changed later with :meth:`configure` or
    ``POST /_sim/config``; faults with :meth:`set_faults`. Windows and lifetimes are in
    seconds (LibreChat's own REGISTER_WINDOW etc. are minutes, SESSION_EXPIRY milliseconds).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_registration: bool = True,
        allowed_domains: Iterable[str] | None = None,
        email_service: bool = False,
        allow_password_reset: bool = True,
        allow_unverified_email_login: bool = True,
        allow_email_login: bool = True,
        allow_account_deletion: bool = True,
        register_max: int = 5,
        register_window_s: float = 3600.0,
        login_max: int = 7,
        login_window_s: float = 300.0,
        reset_max: int = 2,
        reset_window_s: float = 120.0,
        session_expiry_s: float = 900,
        refresh_expiry_s: float = 7 * 86400,
        min_password_length: int = 8,
        secure_cookies: bool = False,
        existing_email_delay_s: float = 0.0,
        reset_token_ttl_s: float = 900.0,
        domain_client: str = "http://localhost:3080",
        domain_server: str = "http://localhost:3080",
        app_title: str = "LibreChat",
        ready: bool = True,
        trust_proxy: bool = False,
        jwt_secret: str = DEFAULT_JWT_SECRET,
        jwt_refresh_secret: str = DEFAULT_JWT_REFRESH_SECRET,
        control_token: str | None = None,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.control_token = control_token or secrets.token_urlsafe(16)
        self.clock: Callable[[], float] = clock or time.time
        self.seed = seed
        self._initial_settings: dict[str, Any] = {
            "allow_registration": allow_registration,
            "allowed_domains": list(allowed_domains) if allowed_domains is not None else None,
            "email_service": email_service,
            "allow_password_reset": allow_password_reset,
            "allow_unverified_email_login": allow_unverified_email_login,
            "allow_email_login": allow_email_login,
            "allow_account_deletion": allow_account_deletion,
            "register_max": register_max,
            "register_window_s": register_window_s,
            "login_max": login_max,
            "login_window_s": login_window_s,
            "reset_max": reset_max,
            "reset_window_s": reset_window_s,
            "session_expiry_s": session_expiry_s,
            "refresh_expiry_s": refresh_expiry_s,
            "min_password_length": min_password_length,
            "secure_cookies": secure_cookies,
            "existing_email_delay_s": existing_email_delay_s,
            "reset_token_ttl_s": reset_token_ttl_s,
            "domain_client": domain_client,
            "domain_server": domain_server,
            "app_title": app_title,
            "ready": ready,
            "trust_proxy": trust_proxy,
            "jwt_secret": jwt_secret,
            "jwt_refresh_secret": jwt_refresh_secret,
        }
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._connections: set[socket.socket] = set()
        self.calls: Counter[tuple[str, str]] = Counter()
        self._reset_state()

    # ---- settings -------------------------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self.settings: dict[str, Any] = dict(self._initial_settings)
            self.faults: dict[str, Any] = dict(DEFAULT_FAULTS)
            self._rng = random.Random(self.seed)
            self._clock_offset = 0.0
            self._users: dict[str, SimUser] = {}
            self._sessions: dict[str, SimSession] = {}
            self._keys: dict[str, dict[str, _Key]] = {}
            self._reset_tokens: dict[str, _ResetToken] = {}
            self._buckets: dict[tuple[str, str], _Bucket] = {}
            self._banned_ips: dict[str, float | None] = {}
            self._banned_emails: dict[str, float | None] = {}
            self._invites: dict[str, str] = {}
            self._object_counter = self._rng.randrange(1 << 24)
            self._object_random = self._rng.getrandbits(40)
            self.outbox: list[dict[str, Any]] = []
            self.calls.clear()

    def __getattr__(self, name: str) -> Any:
        # Settings read as attributes: sim.register_max, sim.allow_registration, ...
        settings = self.__dict__.get("settings")
        if settings is not None and name in settings:
            return settings[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        # sim.allow_registration = False changes the setting rather than shadowing it.
        if name in SETTING_NAMES and "settings" in self.__dict__:
            self.configure(**{name: value})
        else:
            super().__setattr__(name, value)

    def configure(self, **settings: Any) -> None:
        """Change settings (any name in ``SETTING_NAMES``) while running."""
        unknown = set(settings) - SETTING_NAMES
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        with self._lock:
            if "allowed_domains" in settings and settings["allowed_domains"] is not None:
                settings["allowed_domains"] = list(settings["allowed_domains"])
            self.settings.update(settings)

    def set_faults(self, **faults: Any) -> None:
        """Set fault knobs: latency, error_rate, status_override, status_override_body,
        hang_rate, hang_max_s, timeout_paths, lose_answer_after_write, fault_paths."""
        unknown = set(faults) - set(DEFAULT_FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        with self._lock:
            if "lose_answer_after_write" in faults:
                value = faults["lose_answer_after_write"]
                faults["lose_answer_after_write"] = float(value) if value else 0.0
            for name in ("timeout_paths", "fault_paths"):
                if name in faults and faults[name] is not None:
                    faults[name] = list(faults[name])
            self.faults.update(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = dict(DEFAULT_FAULTS)

    def reset(self) -> None:
        """Back to the state at construction: no users, settings and faults reset, counters zero."""
        self._reset_state()

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._buckets.clear()

    # ---- time -----------------------------------------------------------------------------

    def now(self) -> float:
        """The simulator's time: ``self.clock()`` plus whatever :meth:`advance_clock` added."""
        return self.clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += seconds

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> LibreChatSimulator:
        """Listen (again). After the first start the port is fixed, so stop()+start() reuses it."""
        if self._server is not None:
            raise RuntimeError("simulator already running")
        self._stop_event = threading.Event()
        server = _Server((self.host, self.port), _Handler)
        server.sim = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"librechat-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (hanging requests end too)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LibreChatSimulator:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection and seeding -----------------------------------------------------------

    @property
    def users(self) -> dict[str, SimUser]:
        """Users by lower-cased email (a snapshot of the mapping; the records are live)."""
        with self._lock:
            return dict(self._users)

    def user(self, email: str) -> SimUser | None:
        with self._lock:
            return self._users.get(email.strip().lower())

    def check_password(self, email: str, password: str) -> bool:
        user = self.user(email)
        return user is not None and _password_matches(password, user.password_hash)

    def user_keys(self, email: str) -> dict[str, str]:
        """The stored key values of a user, by key name."""
        return {name: key["value"] for name, key in self.key_records(email).items()}

    def key_records(self, email: str) -> dict[str, dict[str, Any]]:
        """``{name: {"value": ..., "expiresAt": ISO string or None}}`` for a user."""
        with self._lock:
            user = self._users.get(email.strip().lower())
            if user is None:
                return {}
            return {
                name: {
                    "value": key.value,
                    "expiresAt": _iso_ms(key.expires_at) if key.expires_at is not None else None,
                }
                for name, key in self._keys.get(user.id, {}).items()
            }

    def sessions_for(self, email: str) -> list[SimSession]:
        """A user's unexpired sessions (expired ones are what Mongo's TTL index removes)."""
        with self._lock:
            user = self._users.get(email.strip().lower())
            if user is None:
                return []
            now = self.now()
            return [s for s in self._sessions.values() if s.user_id == user.id and s.expiration > now]

    def add_user(
        self,
        email: str,
        password: str,
        verified: bool = True,
        two_fa: bool = False,
        role: str | None = None,
        *,
        name: str | None = None,
        username: str = "",
    ) -> SimUser:
        """Seed a user directly (like ``npm run create-user``); no validation, no rate limit."""
        with self._lock:
            key = email.strip().lower()
            if key in self._users:
                raise ValueError(f"user {key} already exists")
            return self._create_user(
                email=key,
                password=password,
                name=name if name is not None else key.split("@")[0],
                username=username.lower(),
                verified=verified,
                two_fa=two_fa,
                role=role,
            )

    def add_invite(self, email: str) -> str:
        """Create an invite token (``npm run invite-user``) valid for that email."""
        token = secrets.token_hex(32)
        with self._lock:
            self._invites[token] = email.strip().lower()
        return token

    def ban_ip(self, ip: str, duration_s: float | None = None) -> None:
        with self._lock:
            self._banned_ips[ip] = self.now() + duration_s if duration_s is not None else None

    def ban_email(self, email: str, duration_s: float | None = None) -> None:
        with self._lock:
            expires = self.now() + duration_s if duration_s is not None else None
            self._banned_emails[email.strip().lower()] = expires

    def unban(self, *, ip: str | None = None, email: str | None = None) -> None:
        with self._lock:
            if ip is not None:
                self._banned_ips.pop(ip, None)
            if email is not None:
                self._banned_emails.pop(email.strip().lower(), None)

    def state(self) -> dict[str, Any]:
        """What ``GET /_sim/state`` answers."""
        with self._lock:
            now = self.now()
            user_list = []
            for user in self._users.values():
                user_list.append(
                    {
                        "id": user.id,
                        "email": user.email,
                        "role": user.role,
                        "emailVerified": user.email_verified,
                        "twoFactorEnabled": user.two_fa,
                        "sessions": sum(
                            1 for s in self._sessions.values() if s.user_id == user.id and s.expiration > now
                        ),
                        "keys": self.key_records(user.email),
                    }
                )
            return {
                "users": len(self._users),
                "user_list": user_list,
                "calls": {f"{method} {path}": n for (method, path), n in self.calls.items()},
                "total_calls": sum(self.calls.values()),
                "outbox": list(self.outbox),
                "settings": dict(self.settings),
                "faults": dict(self.faults),
                "now": now,
            }

    # ---- internals: ids, users, tokens ------------------------------------------------------

    def _object_id(self) -> str:
        """A Mongo ObjectId: 4-byte time, 5-byte random, 3-byte counter."""
        self._object_counter = (self._object_counter + 1) % (1 << 24)
        stamp = int(self.now()) & 0xFFFFFFFF
        return f"{stamp:08x}{self._object_random:010x}{self._object_counter:06x}"

    def _create_user(
        self,
        *,
        email: str,
        password: str,
        name: str,
        username: str,
        verified: bool,
        two_fa: bool = False,
        role: str | None = None,
    ) -> SimUser:
        now = self.now()
        if role is None:
            # AuthService.registerUser: the first user ever (countUsers() === 0) is ADMIN.
            role = "ADMIN" if not self._users else "USER"
        user = SimUser(
            id=self._object_id(),
            email=email,
            name=name,
            username=username,
            password_hash=_hash_password(password),
            email_verified=verified,
            role=role,
            two_fa=two_fa,
            created_at=now,
            updated_at=now,
        )
        self._users[email] = user
        return user

    def _user_by_id(self, user_id: Any) -> SimUser | None:
        if not isinstance(user_id, str):
            return None
        for user in self._users.values():
            if user.id == user_id:
                return user
        return None

    def _access_token(self, user: SimUser) -> str:
        # Contract "Tokens": payload {id, username, provider, email}; jsonwebtoken adds iat, exp.
        iat = math.floor(self.now())
        payload = {
            "id": user.id,
            "username": user.username,
            "provider": "local",
            "email": user.email,
            "iat": iat,
            "exp": math.floor(iat + self.settings["session_expiry_s"]),
        }
        return _jwt_sign(payload, self.settings["jwt_secret"])

    def _refresh_token(self, session: SimSession) -> str:
        """session.ts generateRefreshToken: {id, sessionId, iat, exp}, no random part.

        Contract "Tokens": two refreshes within the same second return the same token and
        refreshing never extends the session's end, so exp is the session's end in seconds.
        (The real code signs with expiresIn = floor((expiration - now) / 1000), which lands one
        second earlier when now's milliseconds exceed the session end's; never later.)
        """
        iat = math.floor(self.now())
        payload = {
            "id": session.user_id,
            "sessionId": session.id,
            "iat": iat,
            "exp": math.floor(session.expiration),
        }
        token = _jwt_sign(payload, self.settings["jwt_refresh_secret"])
        session.refresh_hash = _sha256_hex(token)
        return token

    def _auth_cookies(self, token: str, expiration: float) -> list[tuple[str, str]]:
        # AuthService.setAuthTokens: refreshToken and token_provider cookies, httpOnly,
        # sameSite strict, secure in production, expiring with the session.
        attrs = f"; Path=/; Expires={_http_date(expiration)}; HttpOnly"
        if self.settings["secure_cookies"]:
            attrs += "; Secure"
        attrs += "; SameSite=Strict"
        return [
            ("Set-Cookie", f"refreshToken={token}{attrs}"),
            ("Set-Cookie", f"token_provider=librechat{attrs}"),
        ]

    def _new_session(self, user: SimUser) -> tuple[SimSession, str]:
        now = self.now()
        session = SimSession(
            id=self._object_id(),
            user_id=user.id,
            expiration=math.floor((now + self.settings["refresh_expiry_s"]) * 1000) / 1000,
            refresh_hash="",
            created_at=now,
        )
        self._sessions[session.id] = session
        return session, self._refresh_token(session)

    def _find_session(self, user_id: str, refresh_token: str | None) -> SimSession | None:
        """session.ts findSession: by user and refresh-token hash, unexpired only. Without a
        token the query is by user alone and returns any session of that user."""
        now = self.now()
        wanted = _sha256_hex(refresh_token) if refresh_token else None
        for session in self._sessions.values():
            if session.user_id != user_id or session.expiration <= now:
                continue
            if wanted is None or session.refresh_hash == wanted:
                return session
        return None

    def _delete_user_sessions(self, user_id: str) -> None:
        for session_id in [s.id for s in self._sessions.values() if s.user_id == user_id]:
            del self._sessions[session_id]

    def _bearer_user(self, request: _Request) -> SimUser | None:
        """passport-jwt: ``Authorization: Bearer <jwt>`` (scheme case-insensitive), then the
        user looked up by the payload's id."""
        header = request.headers.get("Authorization") or ""
        match = re.fullmatch(r"(\S+)\s+(\S+)", header.strip())
        if not match or match.group(1).lower() != "bearer":
            return None
        try:
            payload = _jwt_verify(match.group(2), self.settings["jwt_secret"], self.now())
        except _JwtError:
            return None
        return self._user_by_id(payload.get("id"))

    # ---- internals: rate limits and bans ------------------------------------------------------

    _LIMITERS = {
        # api/server/middleware/limiters/registerLimiter.js
        "register": (
            "register_max",
            "register_window_s",
            "Too many accounts created, please try again after {m} minutes",
        ),
        # api/server/middleware/limiters/loginLimiter.js
        "login": (
            "login_max",
            "login_window_s",
            "Too many login attempts, please try again after {m} minutes.",
        ),
        # api/server/middleware/limiters/resetPasswordLimiter.js
        "reset": (
            "reset_max",
            "reset_window_s",
            "Too many attempts, please try again after {m} minute(s)",
        ),
    }

    def _limit(self, limiter: str, ip: str) -> tuple[_Response | None, list[tuple[str, str]]]:
        """express-rate-limit, fixed window per client IP, counting every request (failed
        ones too). The message's minutes are ``windowMs / 60000`` printed by JavaScript."""
        max_name, window_name, template = self._LIMITERS[limiter]
        limit = int(self.settings[max_name])
        window = float(self.settings[window_name])
        now = self.now()
        bucket = self._buckets.get((limiter, ip))
        if bucket is None or now >= bucket.reset_at:
            bucket = _Bucket(0, now + window)
            self._buckets[(limiter, ip)] = bucket
        bucket.count += 1
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(max(0, limit - bucket.count))),
            ("X-RateLimit-Reset", str(math.ceil(bucket.reset_at))),
        ]
        if bucket.count > limit:
            headers.append(("Retry-After", str(max(0, math.ceil(bucket.reset_at - now)))))
            message = template.format(m=_js_number(window * 1000 / 60000))
            return _json(429, {"message": message}, headers), headers
        return None, headers

    def _is_banned(self, ip: str, body: Any) -> bool:
        """checkBan.js: the client IP, or the user named by ``req.body.email``."""
        now = self.now()

        def active(table: dict[str, float | None], key: str) -> bool:
            if key not in table:
                return False
            expires = table[key]
            if expires is not None and expires <= now:
                del table[key]
                return False
            return True

        if active(self._banned_ips, ip):
            return True
        email = body.get("email") if isinstance(body, dict) else None
        return isinstance(email, str) and active(self._banned_emails, email.strip().lower())

    # ---- routing ----------------------------------------------------------------------------

    def _dispatch(self, request: _Request) -> _Response:
        path = request.path.rstrip("/") or "/"
        route = path.lower()  # Express routing is case-insensitive and ignores a trailing slash
        method = "GET" if request.method == "HEAD" else request.method
        handler = self._ROUTES.get((method, route))
        if handler is not None:
            return handler(self, request)
        if route.startswith("/api/keys/") and method == "DELETE":
            return self._delete_key(request, unquote(path[len("/api/keys/") :]))
        if route == "/api" or route.startswith("/api/"):
            # Contract "Health": unknown /api/* paths.
            return _json(404, {"message": "Endpoint not found"})
        if method == "GET":
            # Everything else is the single-page app's index.html.
            return _text(200, "<!DOCTYPE html><html><head><title>LibreChat</title></head></html>")
        # Express finalhandler.
        return _text(404, f"<!DOCTYPE html><pre>Cannot {request.method} {request.path}</pre>")

    # ---- health and config --------------------------------------------------------------------

    def _health(self, request: _Request) -> _Response:
        return _text(200, "OK")

    def _readyz(self, request: _Request) -> _Response:
        if self.settings["ready"]:
            return _text(200, "OK")
        return _text(503, "NOT_READY")

    def _config(self, request: _Request) -> _Response:
        # api/server/routes/config.js buildPreLoginPayload.
        s = self.settings
        payload: dict[str, Any] = {
            "appTitle": s["app_title"],
            "discordLoginEnabled": False,
            "facebookLoginEnabled": False,
            "githubLoginEnabled": False,
            "googleLoginEnabled": False,
            "appleLoginEnabled": False,
            "openidLoginEnabled": False,
            "openidLabel": "Continue with OpenID",
            "openidAutoRedirect": False,
            "samlLoginEnabled": False,
            "serverDomain": s["domain_server"],
            "emailLoginEnabled": s["allow_email_login"],
            "registrationEnabled": s["allow_registration"],
            "socialLoginEnabled": False,
            "emailEnabled": s["email_service"],
            "passwordResetEnabled": s["allow_password_reset"],
            "socialLogins": ["github", "google", "discord", "openid", "facebook", "apple", "saml"],
        }
        if s["min_password_length"] != 8:
            # Only present when MIN_PASSWORD_LENGTH is set.
            payload["minPasswordLength"] = s["min_password_length"]
        user = self._bearer_user(request)
        if user is not None:
            payload["allowAccountDeletion"] = s["allow_account_deletion"] or user.role == "ADMIN"
        return _json(200, payload)

    # ---- register ---------------------------------------------------------------------------

    def _register(self, request: _Request) -> _Response:
        # api/server/routes/auth.js: registerLimiter, checkBan, checkInviteUser,
        # validateRegistration, registrationController.
        limited, rl_headers = self._limit("register", request.ip)
        if limited is not None:
            return limited
        body = request.body
        if self._is_banned(request.ip, body):
            return _json(403, {"message": BAN_MESSAGE}, rl_headers)
        invited = False
        token = body.get("token", MISSING) if isinstance(body, dict) else MISSING
        if _js_truthy(token) and token != "undefined":
            # checkInviteUser.js: a bad token is a 400 even when registration is open.
            email = body.get("email")
            invite_email = self._invites.get(token) if isinstance(token, str) else None
            if invite_email is None or not (isinstance(email, str) and email.strip().lower() == invite_email):
                return _json(400, {"message": "Invalid invite token"}, rl_headers)
            del self._invites[token]
            invited = True
        if not invited and not self.settings["allow_registration"]:
            return _json(403, {"message": "Registration is not allowed."}, rl_headers)
        error = _validate_register(body, int(self.settings["min_password_length"]))
        if error is not None:
            # AuthService.registerUser: validation failures answer 404.
            return _json(404, {"message": error}, rl_headers)
        email = body["email"].strip().lower()  # the User schema lower-cases (and trims) emails
        if email in self._users:
            # Same 200 as a creation, after a 1 s sleep in the real service.
            response = _json(200, {"message": GENERIC_REGISTER_MESSAGE}, rl_headers)
            response.delay = float(self.settings["existing_email_delay_s"])
            return response
        allowed = self.settings["allowed_domains"]
        if allowed:
            domain = email.split("@")[-1]
            if domain not in {d.lower() for d in allowed}:
                message = "The email address provided cannot be used. Please use a different email address."
                return _json(403, {"message": message}, rl_headers)
        username = body.get("username")
        user = self._create_user(
            email=email,
            password=body["password"],
            name=body["name"],
            username=username.lower() if isinstance(username, str) else "",
            # registerUser: verified at once unless an email service is configured, in which
            # case a verification email goes out and emailVerified stays false.
            verified=not self.settings["email_service"],
        )
        if self.settings["email_service"]:
            verify_token = secrets.token_hex(32)
            self.outbox.append(
                {
                    "to": user.email,
                    "subject": "Verify your email",
                    "link": f"{self.settings['domain_client']}/verify?token={verify_token}"
                    f"&email={user.email}",
                    "at": self.now(),
                }
            )
        return _json(200, {"message": GENERIC_REGISTER_MESSAGE}, rl_headers)

    # ---- login, refresh, logout -------------------------------------------------------------

    def _login(self, request: _Request) -> _Response:
        # api/server/routes/auth.js: loginLimiter, checkBan, validateEmailLogin,
        # requireLocalAuth (passport-local + localStrategy.js), loginController.
        limited, rl_headers = self._limit("login", request.ip)
        if limited is not None:
            return limited
        body = request.body if isinstance(request.body, dict) else {}
        if self._is_banned(request.ip, body):
            return _json(403, {"message": BAN_MESSAGE}, rl_headers)
        if not self.settings["allow_email_login"]:
            return _json(403, {"message": "Email login is not allowed."}, rl_headers)
        # passport-local reads body then query; a falsy field never reaches the strategy.
        email = body.get("email", MISSING)
        if not _js_truthy(email):
            email = request.query_value("email") or MISSING
        password = body.get("password", MISSING)
        if not _js_truthy(password):
            password = request.query_value("password") or MISSING
        if not _js_truthy(email) or not _js_truthy(password):
            return _json(404, {"message": "Missing credentials"}, rl_headers)
        # requireLocalAuth.js: every strategy failure is a 404 {message}.
        error = _validate_login(request.body, int(self.settings["min_password_length"]))
        if error is not None:
            return _json(404, {"message": error}, rl_headers)
        user = self._users.get(email.strip().lower())
        if user is None:
            return _json(404, {"message": "Email does not exist."}, rl_headers)
        if not _password_matches(password, user.password_hash):
            return _json(404, {"message": "Incorrect password."}, rl_headers)
        if not user.email_verified and not self.settings["allow_unverified_email_login"]:
            # The strategy passes the user along with a message: requireLocalAuth sends 422.
            return _json(422, {"message": "Email not verified."}, rl_headers)
        if user.two_fa:
            # LoginController.js: no session, a 5-minute temp token instead.
            iat = math.floor(self.now())
            temp = _jwt_sign(
                {"userId": user.id, "twoFAPending": True, "iat": iat, "exp": iat + 300},
                self.settings["jwt_secret"],
            )
            return _json(200, {"twoFAPending": True, "tempToken": temp}, rl_headers)
        session, refresh = self._new_session(user)
        user_out = user.document()
        del user_out["__v"]
        user_out["id"] = user.id
        headers = rl_headers + self._auth_cookies(refresh, session.expiration)
        return _json(200, {"token": self._access_token(user), "user": user_out}, headers)

    def _refresh(self, request: _Request) -> _Response:
        # AuthController.js refreshController.
        refresh = _parse_cookies(request.headers.get("Cookie")).get("refreshToken")
        if not refresh:
            return _text(200, "Refresh token not provided")
        try:
            payload = _jwt_verify(refresh, self.settings["jwt_refresh_secret"], self.now())
        except _JwtError:
            return _text(403, "Invalid refresh token")
        user = self._user_by_id(payload.get("id"))
        if user is None:
            # res.status(401).redirect('/login'): redirect() sets 302 itself.
            return _Response(302, b"Found. Redirecting to /login", TEXT_TYPE, [("Location", "/login")])
        session = self._find_session(user.id, refresh)
        if session is not None and session.expiration > self.now():
            new_refresh = self._refresh_token(session)
            user_out = user.document()
            del user_out["__v"]  # getUserById(..., '-password -__v ...'), lean: no `id`
            return _json(
                200,
                {"token": self._access_token(user), "user": user_out},
                self._auth_cookies(new_refresh, session.expiration),
            )
        if request.query_value("retry"):
            return _text(403, "No session found")
        return _text(401, "Refresh token expired or not found for this user")

    def _logout(self, request: _Request) -> _Response:
        # LogoutController.js + AuthService.logoutUser.
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        refresh = _parse_cookies(request.headers.get("Cookie")).get("refreshToken")
        session = self._find_session(user.id, refresh or None)
        if session is not None:
            del self._sessions[session.id]
        cleared = "; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        headers = [
            ("Set-Cookie", f"refreshToken={cleared}"),
            ("Set-Cookie", f"token_provider={cleared}"),
        ]
        return _json(200, {"message": "Logout successful"}, headers)

    # ---- password reset ---------------------------------------------------------------------

    def _request_password_reset(self, request: _Request) -> _Response:
        # auth.js: resetPasswordLimiter, checkBan, validatePasswordReset, controller.
        limited, rl_headers = self._limit("reset", request.ip)
        if limited is not None:
            return limited
        if self._is_banned(request.ip, request.body):
            return _json(403, {"message": BAN_MESSAGE}, rl_headers)
        if not self.settings["allow_password_reset"]:
            return _text(403, "Password reset is not allowed.", rl_headers)
        body = request.body if isinstance(request.body, dict) else {}
        email = body.get("email")
        user = self._users.get(email.strip().lower()) if isinstance(email, str) else None
        if user is None:
            return _json(200, {"message": GENERIC_RESET_MESSAGE}, rl_headers)
        token = secrets.token_hex(32)
        self._reset_tokens[user.id] = _ResetToken(_sha256_hex(token), self.now())
        link = f"{self.settings['domain_client']}/reset-password?token={token}&userId={user.id}"
        if not self.settings["email_service"]:
            # Contract "Password reset": without an email service the caller gets the link.
            return _json(200, {"link": link}, rl_headers)
        self.outbox.append(
            {"to": user.email, "subject": "Password Reset Request", "link": link, "at": self.now()}
        )
        return _json(200, {"message": GENERIC_RESET_MESSAGE}, rl_headers)

    def _reset_password(self, request: _Request) -> _Response:
        # auth.js: checkBan, validatePasswordReset, resetPasswordController (no limiter).
        if self._is_banned(request.ip, request.body):
            return _json(403, {"message": BAN_MESSAGE})
        if not self.settings["allow_password_reset"]:
            return _text(403, "Password reset is not allowed.")
        body = request.body if isinstance(request.body, dict) else {}
        user_id = body.get("userId", MISSING)
        token = body.get("token", MISSING)
        password = body.get("password", MISSING)
        stored = self._reset_tokens.get(user_id) if isinstance(user_id, str) else None
        ttl = float(self.settings["reset_token_ttl_s"])  # createToken(..., expiresIn: 900)
        if stored is not None and self.now() > stored.created_at + ttl:
            del self._reset_tokens[user_id]
            stored = None
        if stored is None:
            # resetPassword returns an Error and the controller does res.json(error):
            # an Error serialises as {}.
            return _json(400, {})
        if not isinstance(token, str):
            # bcrypt.compareSync throws; the controller answers 400 {message}.
            return _json(400, {"message": f"Illegal arguments: {_js_typeof(token)}, string"})
        if not hmac.compare_digest(_sha256_hex(token), stored.token_hash):
            return _json(400, {})
        if not isinstance(password, str):
            return _json(400, {"message": f"Illegal arguments: {_js_typeof(password)}, number"})
        user = self._user_by_id(user_id)
        if user is None:
            return _json(400, {"message": "Cannot read properties of null (reading 'email')"})
        user.password_hash = _hash_password(password)
        user.updated_at = self.now()
        del self._reset_tokens[user_id]
        self._delete_user_sessions(user.id)
        if self.settings["email_service"]:
            self.outbox.append(
                {
                    "to": user.email,
                    "subject": "Password Reset Successfully",
                    "link": None,
                    "at": self.now(),
                }
            )
        return _json(200, {"message": "Password reset was successful"})

    # ---- current user -----------------------------------------------------------------------

    def _get_user(self, request: _Request) -> _Response:
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        # UserController.js sanitizeUserForResponse: public fields plus `id`.
        out = user.document()
        del out["__v"]
        out["id"] = user.id
        return _json(200, out)

    def _delete_user(self, request: _Request) -> _Response:
        # routes/user.js: requireJwtAuth, canDeleteAccount, deleteUserController.
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        if not (self.settings["allow_account_deletion"] or user.role == "ADMIN"):
            # canDeleteAccount.js: admins may always delete.
            return _json(403, {"message": "You do not have permission to delete this account"})
        if user.two_fa:
            body = request.body if isinstance(request.body, dict) else {}
            code = body.get("token") or body.get("backupCode")
            if not code:
                message = "TOTP token or backup code is required to delete account with 2FA enabled"
                return _json(400, {"message": message})
            if code != user.totp_code:
                return _json(400, {"message": "Invalid token or backup code."})
        self._delete_user_sessions(user.id)
        self._keys.pop(user.id, None)
        self._reset_tokens.pop(user.id, None)
        del self._users[user.email]
        return _json(200, {"message": "User deleted"})

    # ---- user-provided keys -----------------------------------------------------------------

    def _put_key(self, request: _Request) -> _Response:
        # routes/keys.js + updateUserKey.
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("name")
        value = body.get("value")
        raw_expiry = body.get("expiresAt", MISSING)
        expires_at: float | None = None
        if _js_truthy(raw_expiry):
            expires_at = _parse_js_date(raw_expiry)
            if expires_at is None:
                # new Date('garbage') is Invalid Date: Mongoose's CastError reaches the error
                # controller, which answers a bare 500.
                return _text(500, "An unknown error occurred.")
        if not isinstance(name, str) or not name or not isinstance(value, str):
            # The Key schema requires name and value; encrypt() throws on a non-string.
            return _text(500, "An unknown error occurred.")
        self._keys.setdefault(user.id, {})[name] = _Key(value, expires_at)
        return _empty(201)

    def _get_key(self, request: _Request) -> _Response:
        # getUserKeyExpiry: {expiresAt: date || 'never'}, {expiresAt: null} without a key.
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        keys = self._keys.get(user.id, {})
        name = request.query_value("name")
        # Without ?name=, findOne({userId, name: undefined}) drops the undefined name, so any
        # key of the user matches.
        key = next(iter(keys.values()), None) if name is None else keys.get(name)
        if key is None:
            return _json(200, {"expiresAt": None})
        return _json(200, {"expiresAt": _iso_ms(key.expires_at) if key.expires_at is not None else "never"})

    def _delete_key(self, request: _Request, name: str) -> _Response:
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        self._keys.get(user.id, {}).pop(name, None)
        return _empty(204)

    def _delete_all_keys(self, request: _Request) -> _Response:
        user = self._bearer_user(request)
        if user is None:
            return _unauthorized()
        if request.query_value("all") != "true":
            return _json(400, {"error": "Specify either all=true to delete."})
        self._keys.pop(user.id, None)
        return _empty(204)

    _ROUTES: dict[tuple[str, str], Callable[[LibreChatSimulator, _Request], _Response]] = {
        ("GET", "/health"): _health,
        ("GET", "/livez"): _health,
        ("GET", "/readyz"): _readyz,
        ("GET", "/api/config"): _config,
        ("POST", "/api/auth/register"): _register,
        ("POST", "/api/auth/login"): _login,
        ("POST", "/api/auth/refresh"): _refresh,
        ("POST", "/api/auth/logout"): _logout,
        ("POST", "/api/auth/requestpasswordreset"): _request_password_reset,
        ("POST", "/api/auth/resetpassword"): _reset_password,
        ("GET", "/api/user"): _get_user,
        ("DELETE", "/api/user/delete"): _delete_user,
        ("PUT", "/api/keys"): _put_key,
        ("GET", "/api/keys"): _get_key,
        ("DELETE", "/api/keys"): _delete_all_keys,
    }

    # ---- control API --------------------------------------------------------------------------

    def _control(self, request: _Request) -> _Response:
        token = request.headers.get(CONTROL_HEADER) or ""
        if not hmac.compare_digest(token.encode(), self.control_token.encode()):
            return _json(403, {"error": f"missing or wrong {CONTROL_HEADER} header"})
        route = (request.method, request.path.rstrip("/"))
        body = request.body if isinstance(request.body, dict) else {}
        try:
            if route == ("GET", "/_sim/state"):
                return _json(200, self.state())
            if route == ("POST", "/_sim/reset"):
                self.reset()
                return _json(200, self.state())
            if route == ("POST", "/_sim/config"):
                return self._control_config(body)
            if route == ("POST", "/_sim/users"):
                user = self.add_user(
                    str(body["email"]),
                    str(body["password"]),
                    verified=bool(body.get("verified", True)),
                    two_fa=bool(body.get("two_fa", False)),
                    role=body.get("role"),
                    name=body.get("name"),
                    username=body.get("username") or "",
                )
                return _json(201, user.document())
        except (KeyError, TypeError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": "unknown control endpoint"})

    def _control_config(self, body: dict[str, Any]) -> _Response:
        actions = {
            "advance_clock_s",
            "ban_ips",
            "ban_emails",
            "unban_ips",
            "unban_emails",
            "reset_rate_limits",
            "reset_calls",
            "clear_faults",
        }
        unknown = set(body) - SETTING_NAMES - set(DEFAULT_FAULTS) - actions
        if unknown:
            return _json(400, {"error": f"unknown keys: {sorted(unknown)}"})
        if body.get("clear_faults"):
            self.clear_faults()
        self.configure(**{k: v for k, v in body.items() if k in SETTING_NAMES})
        self.set_faults(**{k: v for k, v in body.items() if k in DEFAULT_FAULTS})
        if "advance_clock_s" in body:
            self.advance_clock(float(body["advance_clock_s"]))
        for ip in body.get("ban_ips", []):
            self.ban_ip(ip)
        for email in body.get("ban_emails", []):
            self.ban_email(email)
        for ip in body.get("unban_ips", []):
            self.unban(ip=ip)
        for email in body.get("unban_emails", []):
            self.unban(email=email)
        if body.get("reset_rate_limits"):
            self.reset_rate_limits()
        if body.get("reset_calls"):
            self.reset_calls()
        return _json(200, {"settings": dict(self.settings), "faults": dict(self.faults)})

    # ---- request handling (called by _Handler) --------------------------------------------------

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._rng.random() < rate

    def _client_ip(self, handler: BaseHTTPRequestHandler) -> str:
        if self.settings["trust_proxy"]:
            # LibreChat's default TRUST_PROXY=1: req.ip is the last X-Forwarded-For hop.
            forwarded = handler.headers.get("X-Forwarded-For")
            if forwarded:
                return forwarded.split(",")[-1].strip()
        return str(handler.client_address[0])


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64
    sim: LibreChatSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Node's keepAliveTimeout: an idle keep-alive connection is closed after 5 s.
    timeout = 5.0
    server: _Server

    # -- plumbing --

    def setup(self) -> None:
        super().setup()
        # Node's http server sets noDelay by default (net.Socket#setNoDelay, http.createServer's
        # `noDelay: true`). Without it the body, written after the headers, waits for Nagle and
        # the client's delayed ACK: ~40 ms per answer that real LibreChat does not have.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sim._lock:
            self.server.sim._connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sim._lock:
            self.server.sim._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline().split(b";")[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse_body(self, raw: bytes) -> tuple[Any, _Response | None]:
        """express.json (strict) and express.urlencoded; other bodies leave ``{}``."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not raw:
            return {}, None
        if content_type == "application/json" or content_type.endswith("+json"):

            def reject_constant(name: str) -> Any:
                raise ValueError(name)

            try:
                parsed = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
            except (ValueError, UnicodeDecodeError):
                parsed = MISSING
            if not isinstance(parsed, dict | list):
                # body-parser's SyntaxError carries the raw body; ErrorController sends
                # err.body back with err.statusCode.
                return {}, _Response(400, raw, HTML_TYPE)
            return parsed, None
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            return {k: v[0] if len(v) == 1 else v for k, v in form.items()}, None
        return {}, None

    def _write(self, response: _Response) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        self.send_header("X-Powered-By", "Express")
        for name, value in response.headers:
            self.send_header(name, value)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        no_body = response.status in (204, 304) or self.command == "HEAD"
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True

    # -- the request --

    def _handle(self) -> None:
        sim = self.server.sim
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self._drop()
            return
        url = urlsplit(self.path)
        path = url.path or "/"
        if path.startswith("/_sim/") or path == "/_sim":
            body, _ = self._parse_body(raw)
            request = _Request(self.command, path, parse_qs(url.query), self.headers, raw, body, "")
            with sim._lock:
                response = sim._control(request)
            self._write(response)
            return

        with sim._lock:
            sim.calls[(self.command, path)] += 1
            faults = dict(sim.faults)
            ip = sim._client_ip(self)
        stop = sim._stop_event

        faulted = faults["fault_paths"] is None or _path_matches(path, faults["fault_paths"])
        if faulted and faults["latency"]:
            stop.wait(float(faults["latency"]))
        hang = _path_matches(path, faults["timeout_paths"]) or (
            faulted and sim._roll(float(faults["hang_rate"]))
        )
        if hang:
            # Accept, then never answer; bounded so the thread ends (at stop() at the latest).
            stop.wait(float(faults["hang_max_s"]))
            self._drop()
            return
        if faulted and faults["status_override"] is not None:
            status = int(faults["status_override"])
            override = faults["status_override_body"]
            if override is None:
                self._write(_json(status, {"message": SOMETHING_WENT_WRONG}))
            else:
                self._write(_Response(status, str(override).encode("utf-8"), HTML_TYPE))
            return
        if faulted and sim._roll(float(faults["error_rate"])):
            self._write(_json(500, {"message": SOMETHING_WENT_WRONG}))
            return

        body, parse_error = self._parse_body(raw)
        if parse_error is not None:
            self._write(parse_error)
            return
        request = _Request(self.command, path, parse_qs(url.query), self.headers, raw, body, ip)
        with sim._lock:
            response = sim._dispatch(request)
        if response.delay > 0:
            stop.wait(response.delay)
        if faulted and sim._roll(float(faults["lose_answer_after_write"])):
            # The work is done (user created, key stored, ...) but the answer never leaves.
            self._drop()
            return
        self._write(response)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulators.librechat",
        description="A LibreChat contract simulator for the portal's tests.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=0)
    add("--control-token", default=os.environ.get(CONTROL_TOKEN_ENV))
    add("--no-registration", action="store_true", help="ALLOW_REGISTRATION=false")
    add("--allowed-domain", action="append", dest="allowed_domains")
    add("--email-service", action="store_true", help="an email service is configured")
    add("--no-password-reset", action="store_true", help="ALLOW_PASSWORD_RESET=false")
    add("--no-unverified-login", action="store_true", help="ALLOW_UNVERIFIED_EMAIL_LOGIN=false")
    add("--no-email-login", action="store_true", help="ALLOW_EMAIL_LOGIN=false")
    add("--no-account-deletion", action="store_true", help="ALLOW_ACCOUNT_DELETION=false")
    add("--register-max", type=int, default=5)
    add("--register-window", type=float, default=3600.0, help="seconds")
    add("--login-max", type=int, default=7)
    add("--login-window", type=float, default=300.0, help="seconds")
    add("--reset-max", type=int, default=2)
    add("--reset-window", type=float, default=120.0, help="seconds")
    add("--session-expiry", type=float, default=900.0, help="seconds")
    add("--refresh-expiry", type=float, default=7 * 86400.0, help="seconds")
    add("--min-password-length", type=int, default=8)
    add("--secure-cookies", action="store_true")
    add("--existing-email-delay", type=float, default=0.0, help="seconds")
    add("--domain-client", default="http://localhost:3080")
    add("--domain-server", default="http://localhost:3080")
    add("--trust-proxy", action="store_true", help="key clients on X-Forwarded-For")
    add("--jwt-secret", default=DEFAULT_JWT_SECRET)
    add("--jwt-refresh-secret", default=DEFAULT_JWT_REFRESH_SECRET)
    add("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    sim = LibreChatSimulator(
        host=args.host,
        port=args.port,
        allow_registration=not args.no_registration,
        allowed_domains=args.allowed_domains,
        email_service=args.email_service,
        allow_password_reset=not args.no_password_reset,
        allow_unverified_email_login=not args.no_unverified_login,
        allow_email_login=not args.no_email_login,
        allow_account_deletion=not args.no_account_deletion,
        register_max=args.register_max,
        register_window_s=args.register_window,
        login_max=args.login_max,
        login_window_s=args.login_window,
        reset_max=args.reset_max,
        reset_window_s=args.reset_window,
        session_expiry_s=args.session_expiry,
        refresh_expiry_s=args.refresh_expiry,
        min_password_length=args.min_password_length,
        secure_cookies=args.secure_cookies,
        existing_email_delay_s=args.existing_email_delay,
        domain_client=args.domain_client,
        domain_server=args.domain_server,
        trust_proxy=args.trust_proxy,
        jwt_secret=args.jwt_secret,
        jwt_refresh_secret=args.jwt_refresh_secret,
        control_token=args.control_token,
        seed=args.seed,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.start()
    if not args.control_token:
        print(f"CONTROL_TOKEN {sim.control_token}", flush=True)
    print(f"READY {sim.base_url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
