"""The secrets published in `.env.example`, refused in production.

Anyone can read `.env.example`: a deployment that kept its example secret key lets anyone
forge sessions and password-reset links, the example Fernet key decrypts every stored master
key and LibreChat password, and `change-me` is the first password an attacker tries. Kept as a
list here (production images need not ship the example file); tests/security/test_example_secrets.py
checks every secret the file publishes is on it.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

EXAMPLE_VALUES: dict[str, frozenset[str]] = {
    "DJANGO_SECRET_KEY": frozenset(
        {"change-me-to-a-long-random-string-of-at-least-fifty-characters-0123456789"}
    ),
    "FERNET_KEYS": frozenset({"ZmFrZS1rZXktZm9yLXRoZS1leGFtcGxlLW9ubHktMzI="}),
    "LITELLM_MASTER_KEY": frozenset({"sk-..."}),
}
# The Fernet key published for FERNET_KEYS is as public under the seeds' name.
EXAMPLE_VALUES["LIBRECHAT_ENCRYPTION_KEY"] = EXAMPLE_VALUES["FERNET_KEYS"]
# Passwords inside these URLs (DATABASE_URL=postgres://portal:change-me@...).
EXAMPLE_PASSWORDS = frozenset({"change-me"})
URL_VARIABLES = ("DATABASE_URL", "EMAIL_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:  # a malformed URL is reported by its own check
        return ""


def example_values_in_use(read: Callable[[str], str]) -> list[str]:
    """The names of the variables (read through `read(name)`) that hold a published example."""
    found = []
    for name, published in EXAMPLE_VALUES.items():
        entries = (
            [e.strip() for e in read(name).split(",")] if name == "FERNET_KEYS" else [read(name).strip()]
        )
        if any(entry in published for entry in entries):
            found.append(name)
    found.extend(name for name in URL_VARIABLES if _url_password(read(name)) in EXAMPLE_PASSWORDS)
    return found
