"""The portal's settings with one extra page that fails (tests/security/test_debug_page.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "tests.security.boom_urls"
