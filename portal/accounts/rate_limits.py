"""Fixed-window rate limits in the shared cache (Redis in deployments and tests), so every
web process counts together.

When the cache cannot be reached, each web process counts on its own (`_LocalCounts`) until
the cache answers again. We chose that over failing closed: Redis down must not lock every
person out of the portal (sign-in, signup and the reveal need only the database), and the
attempts stay bounded, at most the limit times the number of web processes per window.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger(__name__)

# After a failure the cache is left alone this long, so a dead Redis costs one timeout per
# pause, not one per check.
CACHE_PAUSE_SECONDS = 10.0


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int
    window_seconds: int

    def _cache_key(self, key: str) -> str:
        digest = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]  # no raw emails in Redis
        return f"ratelimit:{self.scope}:{digest}"

    def forgive(self, key: str) -> None:
        """Take back one attempt for `key`: it turned out to be no guess (a sign-in with the
        right password), so a person signing in and out a few times is never locked out."""
        cache_key = self._cache_key(key)
        if _local.cache_paused():
            _local.decr(cache_key)
            return
        try:
            if int(cache.get(cache_key) or 0) > 0:
                cache.decr(cache_key)
        except Exception as exc:  # as in hit(): whichever cache it is, it may be down
            _local.pause_cache(exc)

    def hit(self, key: str) -> bool:
        """Count one attempt for `key`; True while within the limit."""
        cache_key = self._cache_key(key)
        if _local.cache_paused():
            return _local.incr(cache_key, self.window_seconds) <= self.limit
        try:
            count = _shared_incr(cache_key, self.window_seconds)
        except Exception as exc:  # redis-py, the socket, the file cache: each raises its own kind
            _local.pause_cache(exc)
            count = _local.incr(cache_key, self.window_seconds)
        return count <= self.limit


def _shared_incr(cache_key: str, window_seconds: int) -> int:
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds)
        return 1


class _LocalCounts:
    """This process's fixed windows, used only while the shared cache is unreachable."""

    MAX_KEYS = 100_000  # a flood of distinct keys must not grow the process without bound

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._paused_until = 0.0

    def cache_paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def pause_cache(self, exc: Exception) -> None:
        with self._lock:
            self._paused_until = time.monotonic() + CACHE_PAUSE_SECONDS
        log.warning(
            "rate limits: the cache is unreachable (%s); counting in this process for %.0f s",
            type(exc).__name__,
            CACHE_PAUSE_SECONDS,
        )

    def incr(self, key: str, window_seconds: int) -> int:
        now = time.monotonic()
        with self._lock:
            ends, count = self._counts.get(key, (0.0, 0))
            if ends <= now:
                if len(self._counts) >= self.MAX_KEYS:
                    self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
                    if len(self._counts) >= self.MAX_KEYS:
                        return 1 << 30  # full of live windows: refuse rather than forget counts
                ends, count = now + window_seconds, 0
            self._counts[key] = (ends, count + 1)
            return count + 1

    def decr(self, key: str) -> None:
        with self._lock:
            ends, count = self._counts.get(key, (0.0, 0))
            if count > 0:
                self._counts[key] = (ends, count - 1)


_local = _LocalCounts()


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
