"""Fixed-window rate limits in the shared cache (Redis in deployments and tests), so every
web process counts together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int
    window_seconds: int

    def hit(self, key: str) -> bool:
        """Count one attempt for `key`; True while within the limit."""
        digest = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]  # no raw emails in Redis
        cache_key = f"ratelimit:{self.scope}:{digest}"
        cache.add(cache_key, 0, timeout=self.window_seconds)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=self.window_seconds)
            count = 1
        return count <= self.limit


def _configured(name: str, default: tuple[int, int]) -> tuple[int, int]:
    limit, window = getattr(settings, name, default)
    return int(limit), int(window)


def signup_per_address() -> RateLimit:
    return RateLimit("signup-ip", *_configured("PORTAL_SIGNUP_RATE", (10, 3600)))


def login_per_address() -> RateLimit:
    return RateLimit("login-ip", *_configured("PORTAL_LOGIN_RATE_PER_ADDRESS", (30, 300)))


def login_per_email() -> RateLimit:
    return RateLimit("login-email", *_configured("PORTAL_LOGIN_RATE_PER_EMAIL", (5, 300)))


def password_reset_per_address() -> RateLimit:
    # Each reset sends an email: unlimited, the form is a way to flood someone's inbox.
    return RateLimit("password-reset-ip", *_configured("PORTAL_PASSWORD_RESET_RATE", (10, 3600)))


def password_check_per_person() -> RateLimit:
    return RateLimit("reveal", *_configured("PORTAL_REVEAL_RATE", (5, 300)))


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind N trusted proxies (PORTAL_TRUSTED_PROXY_HOPS, Traefik in the
    seeds) it is the Nth address from the right of X-Forwarded-For: the entries left of it can be
    forged by the client, the ones the proxies append cannot."""
    hops = int(getattr(settings, "PORTAL_TRUSTED_PROXY_HOPS", 0))
    if hops > 0:
        forwarded = [
            a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if a.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR") or "unknown")
