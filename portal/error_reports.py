"""What error pages and error reports may show: no credentials, also with DEBUG on.

Django's SafeExceptionReporterFilter hides settings by name and honours the `sensitive_*`
decorators only when DEBUG is off, so the technical 500 page of the default (DEBUG on) showed
`DATABASE_URL`, `REDIS_URL` and `EMAIL_URL` from the environment with their passwords, the
broker and cache URLs among the settings, and every POSTed password. Here, always:
- any value, at any depth (settings, request headers and environment, cookies, POST and GET
  parameters, frame variables, the exception's text), has URL passwords and query parameters
  named like a secret replaced, `Bearer` tokens and LiteLLM keys (`sk-...`) masked, and the configured secrets (secret key, Fernet
  keys, mail, database and Redis passwords, the seeds' master key) replaced wherever they occur;
- parameters and frame variables named like a secret (password, key, token...) are hidden, as
  Django does for settings, and the `sensitive_*` decorators apply with DEBUG on too.
"""

from __future__ import annotations

import os
import re
from pprint import pformat
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from django.utils.regex_helper import _lazy_re_compile
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

MASK = SafeExceptionReporterFilter.cleansed_substitute

# scheme://user:password@host — the greedy userinfo stops at the authority's end and backs off
# to its last "@", so `smtp://portal@example.com:pw@smtp.example.com` keeps the user visible.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#:]*):([^\s/?#]*)@")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/\-]+=*")
# ?token=... / &api_key=...: a query parameter named like a secret, wherever a URL is shown.
_QUERY_SECRET = re.compile(
    r"(?i)((?:^|[?&;])[^=&\s#'\"]*(?:token|key|secret|pass|auth|signature|credential)[^=&\s#'\"]*=)[^&\s#'\"]*"
)
_LITELLM_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
# Shorter configured secrets are left to the rules above: replacing a short common word
# everywhere ("postgres") would garble the page without protecting anything more.
_MIN_VALUE_LENGTH = 12
_URL_SETTINGS = ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
_URL_ENV = ("DATABASE_URL", "EMAIL_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


def _configured_secrets() -> tuple[str, ...]:
    """The secrets this process is configured with, longest first (one replaced before its prefix).

    Read afresh on each call (a few attribute reads): a report is rare, stale secrets are worse.
    """
    found: set[str] = {settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])}
    found.update(key.decode() for key in getattr(settings, "FERNET_ACTIVE_KEYS", ()))
    found.add(getattr(settings, "EMAIL_HOST_PASSWORD", "") or "")
    found.update(str(db.get("PASSWORD") or "") for db in settings.DATABASES.values())
    found.update(_url_password(str(getattr(settings, name, "") or "")) for name in _URL_SETTINGS)
    found.update(_url_password(os.environ.get(name, "")) for name in _URL_ENV)
    found.update(os.environ.get(name, "") for name in ("LITELLM_MASTER_KEY", "LIBRECHAT_ENCRYPTION_KEY"))
    return tuple(sorted((s for s in found if len(s) >= _MIN_VALUE_LENGTH), key=len, reverse=True))


def scrub(text: str) -> str:
    """The text with every credential this module knows how to recognise replaced."""
    for secret in _configured_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m[1]}{m[2]}:{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m[1]}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    return _LITELLM_KEY.sub(f"sk-{MASK}", text)


class _Shown:
    """A frame variable as the report prints it (pformat), already scrubbed."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = _lazy_re_compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL|PRIVATE|CSRF", flags=re.I
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        return True  # the debug page is seen too: by whoever reaches a DEBUG deployment

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return scrub(cleansed)
        if isinstance(cleansed, bytes):
            return scrub(cleansed.decode(errors="replace"))
        return cleansed

    def _is_secret_name(self, name: Any) -> bool:
        return isinstance(name, str) and bool(self.hidden_settings.search(name))

    def cleanse_parameters(self, parameters: Any) -> Any:
        """A QueryDict (POST, GET) with secret-named values hidden and the rest scrubbed."""
        cleansed = parameters.copy()
        for name in cleansed:
            values = cleansed.getlist(name)
            cleansed.setlist(name, [MASK if self._is_secret_name(name) else scrub(str(v)) for v in values])
        return cleansed

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        parameters = super().get_post_parameters(request)
        return self.cleanse_parameters(parameters) if request is not None else parameters

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        shown: list[tuple[str, Any]] = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if self._is_secret_name(name):
                shown.append((name, MASK))
            elif isinstance(value, str) and value == MASK:
                shown.append((name, value))
            else:
                if isinstance(value, MultiValueDict):  # request.POST held in a local
                    value = self.cleanse_parameters(value)
                elif isinstance(value, dict | list | tuple):  # cleaned_data, kwargs...
                    value = self.cleanse_setting("", value)
                try:
                    text = pformat(value)
                except Exception as exc:  # a broken __repr__ must not break the error page
                    text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
                shown.append((name, _Shown(scrub(text))))
        return shown


class PortalExceptionReporter(ExceptionReporter):
    """The exception's own text, its causes, the URL and the query string scrubbed the same way."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for name in ("exception_value", "exception_notes", "request_insecure_uri"):
            if isinstance(data.get(name), str):
                data[name] = scrub(data[name])
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = scrub(str(frame["exc_cause"]))
        if self.request is not None and isinstance(self.filter, PortalExceptionReporterFilter):
            data["request_GET_items"] = self.filter.cleanse_parameters(self.request.GET).items()
        return data
