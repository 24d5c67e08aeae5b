"""The one settings module. Every value comes from the environment (django-environ).

Two shapes:
- Embedded default (no DATABASE_URL, no broker URL): SQLite and a SQLite-backed Celery broker
  under var/, so `make run` works on a bare machine.
- Real deployment: DATABASE_URL (PostgreSQL via psycopg 3), REDIS_URL / CELERY_BROKER_URL.

With DJANGO_DEBUG=false (production) the secret key, the Fernet keys and the allowed hosts
are required; a missing one stops the process with one line naming it, and so do secrets
still holding the examples published in .env.example (portal/example_values.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import unquote

import environ

from portal.example_values import example_values_in_use
from portal.startup import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A developer's .env is read when present; real deployments pass the environment directly.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

_debug_raw = env.str("DJANGO_DEBUG", default="true").strip().lower()
# Strict on purpose: django-environ reads any unknown word as False, which would silently
# switch a typo into production mode.
if _debug_raw not in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
    raise ConfigurationError(f"DJANGO_DEBUG must be true or false, not {_debug_raw!r}")
DEBUG = _debug_raw in {"true", "1", "yes", "on"}

VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

_missing = [
    name
    for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")
    if not DEBUG and not env.str(name, default="")
]
if not DEBUG and not (env.str("FERNET_KEYS", default="") or env.str("LIBRECHAT_ENCRYPTION_KEY", default="")):
    _missing.append("FERNET_KEYS (or LIBRECHAT_ENCRYPTION_KEY)")
if _missing:
    raise ConfigurationError(
        "production settings (DJANGO_DEBUG=false) need " + ", ".join(_missing) + "; see .env.example"
    )
_published = [] if DEBUG else example_values_in_use(lambda name: env.str(name, default=""))
if _published:
    raise ConfigurationError(
        "production settings (DJANGO_DEBUG=false) refuse the example values published in "
        ".env.example for " + ", ".join(_published) + "; generate your own"
    )


def _embedded_secret_key() -> str:
    """A per-checkout secret for the embedded default, kept in var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "portal",
    "portal.accounts",
    # The integrations before the features that build on them (bootstrap steps run in this order).
    "integrations.litellm",
    "integrations.librechat",
    "portal.access",
    "portal.connectivity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.api_errors.ApiJsonErrorsMiddleware",  # JSON errors under /api/, whatever answered
    # Static files in every mode (runserver's own static view is off): see WHITENOISE_*.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.core.admin_selection.AdminSelectionMiddleware",  # forged list selections: a sentence, not a 500
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.unreadable_secrets.UnreadableSecretMiddleware",  # a 503 that names the column
    "portal.csp.PortalCSPMiddleware",  # django-csp, Django's debug pages excepted (portal/csp.py)
]

# Content-Security-Policy (django-csp) for the admin and the portal's pages: scripts and styles
# only from the portal's own static files, nothing inline (templates use classes and files).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/me/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    try:
        DATABASES = {"default": env.db("DATABASE_URL")}
    except Exception as exc:
        raise ConfigurationError(f"DATABASE_URL is not a valid database URL ({exc})") from None
    if DATABASES["default"].get("ENGINE") not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ConfigurationError(
            "DATABASE_URL must start with postgres:// (or sqlite:// for experiments), "
            f"not {env.str('DATABASE_URL').split(':', 1)[0]}://"
        )
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A Unix socket written the libpq way, postgres://user@%2Fvar%2Frun%2Fpostgresql/db:
        # django-environ keeps the host percent-encoded.
        if str(DATABASES["default"].get("HOST", "")).startswith("%2F"):
            DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
        DATABASES["default"].setdefault("OPTIONS", {})
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # Fail in seconds, not minutes, when the server is unreachable.
        DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "portal.sqlite3",
            # Web, worker and beat share the file: wait for locks instead of failing at once.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------------------
# Precedence: CELERY_BROKER_URL wins for the broker; else REDIS_URL; else the embedded broker.
# The result backend follows CELERY_RESULT_BACKEND, else REDIS_URL, else a Redis broker URL,
# else the embedded results store.
# The embedded broker (portal/embedded_broker.py: kombu's SQLAlchemy transport, delivered rows
# deleted) and Celery's database backend for results, on SQLite files under var/. Not kombu's
# filesystem transport: it reads a message file while its writer is still filling it, and the
# worker dies of a JSONDecodeError within minutes.
REDIS_URL = env.str("REDIS_URL", default="")
_embedded_db = {"connect_args": {"timeout": 20}}  # wait for SQLite's lock, like DATABASES
CELERY_BROKER_URL = (
    env.str("CELERY_BROKER_URL", default="")
    or REDIS_URL
    or f"portal-sqlite+sqlite:///{(VAR_DIR / 'broker.sqlite3').absolute()}"
)
EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("portal-sqlite+")
if EMBEDDED_BROKER:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = dict(_embedded_db)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task unacknowledged this long is redelivered (acks_late): longer than any time limit.
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2.0,  # a dead broker host: fail the publish, don't hang
    }

_redis_broker = (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")) else ""
)
CELERY_RESULT_BACKEND = (
    env.str("CELERY_RESULT_BACKEND", default="")
    or REDIS_URL
    or _redis_broker
    or f"db+sqlite:///{(VAR_DIR / 'results.sqlite3').absolute()}"
)
if CELERY_RESULT_BACKEND.startswith("db+sqlite:"):
    CELERY_DATABASE_ENGINE_OPTIONS = _embedded_db

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
# A task's STARTED state tells a waiting command "a worker has it" from "nobody took it"
# (portal.core.queues.dispatch_and_wait's pickup_seconds).
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=150)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Redis that is down must cost a waiting person seconds, not Celery's default ~20 s of
# reconnecting (20 retries a second apart) followed by a 500. Results only serve someone
# waiting a few seconds; the rows are the source of truth, so giving up early loses nothing.
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2.0
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
            "TIMEOUT": 300,
            # An unreachable Redis fails a rate-limit check in a second (it then counts per
            # process, portal/accounts/rate_limits.py) instead of hanging the login page.
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    # Shared by web, worker and beat (rate limits, gates) without a server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Secrets at rest ------------------------------------------------------------------------
FERNET_KEYS = env.str("FERNET_KEYS", default="")
LIBRECHAT_ENCRYPTION_KEY = env.str("LIBRECHAT_ENCRYPTION_KEY", default="")
FERNET_KEY_FILE = VAR_DIR / "fernet.key"  # used only by the embedded default
# Checked now so a malformed key list stops the process at start with one line.
from portal.crypto import keys_from_settings_values  # noqa: E402

FERNET_ACTIVE_KEYS = keys_from_settings_values(
    fernet_keys=FERNET_KEYS,
    librechat_encryption_key=LIBRECHAT_ENCRYPTION_KEY,
    embedded_key_file=FERNET_KEY_FILE if DEBUG else None,
)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# With DEBUG on, WhiteNoise serves the apps' static files straight from the finders and sees
# edits; in production only what collectstatic gathered. Fixed here, from the mode the
# process started in (the test runner turns DEBUG off later).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Signup and login rate limits count per client address; behind a TLS proxy (Traefik) set
# PORTAL_TRUSTED_PROXY_HOPS=1 so the address comes from X-Forwarded-For, not the proxy.
PORTAL_TRUSTED_PROXY_HOPS = env.int("PORTAL_TRUSTED_PROXY_HOPS", default=0)

# --- Email ----------------------------------------------------------------------------------
try:
    _email = env.email_url("EMAIL_URL", default="consolemail://")
except Exception as exc:
    raise ConfigurationError(f"EMAIL_URL is not a valid email URL ({exc})") from None
# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS...
globals().update(_email)
# Seconds a mail server may take per operation (connect, each SMTP reply): without it a server
# that accepts and never answers holds a worker forever. Mail goes out from workers (portal/mail.py).
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Portal admins", a) for a in env.list("PORTAL_ADMIN_EMAILS", default=[])]

# An invitation link works this many days (portal/accounts/invitations.py); resending makes a
# new link for as long again.
_invitation_days_raw = env.str("PORTAL_INVITATION_DAYS", default="14").strip()
if not _invitation_days_raw.isdigit() or not 1 <= int(_invitation_days_raw) <= 365:
    raise ConfigurationError(
        f"PORTAL_INVITATION_DAYS must be a whole number of days from 1 to 365, not {_invitation_days_raw!r}"
    )
PORTAL_INVITATION_DAYS = int(_invitation_days_raw)

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Error pages and reports (the DEBUG page included) never show credentials: portal/error_reports.py.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.error_reports.PortalExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "portal.error_reports.PortalExceptionReporter"
if not DEBUG:
    # The portal sits behind a TLS-terminating proxy (Traefik or nginx in the seeds) that
    # sets X-Forwarded-Proto; only trust it because the proxy overwrites that header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # /healthz and /readyz are probed over plain HTTP inside the Docker network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},  # SQL at DEBUG would echo encrypted blobs
    },
}

PORTAL_VERSION = "0.1.0"
# Outbound vendor calls: connect and read timeouts in seconds (integrations/http.py).
VENDOR_CONNECT_TIMEOUT = env.float("VENDOR_CONNECT_TIMEOUT", default=3.05)
VENDOR_READ_TIMEOUT = env.float("VENDOR_READ_TIMEOUT", default=15.0)
# Connectivity check history is pruned after this many days (the prune beat entry's `days`
# kwarg overrides it from the admin).
CONNECTIVITY_KEEP_RESULTS_DAYS = env.int("CONNECTIVITY_KEEP_RESULTS_DAYS", default=30)
# Its hourly rollups (uptime and latency on a target's page, up to 90 days) are kept this long.
CONNECTIVITY_KEEP_ROLLUPS_DAYS = env.int("CONNECTIVITY_KEEP_ROLLUPS_DAYS", default=91)
# Spend history per key (integrations/litellm/spend_history.py): hourly and daily rollups are
# pruned after this many days.
LITELLM_SPEND_HOURLY_KEEP_DAYS = env.int("LITELLM_SPEND_HOURLY_KEEP_DAYS", default=90)
LITELLM_SPEND_DAILY_KEEP_DAYS = env.int("LITELLM_SPEND_DAILY_KEEP_DAYS", default=396)
