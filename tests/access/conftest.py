"""The people fixtures of tests/accounts serve the access tests too (a person, a LibreChat
server on its simulator, the signup policy, fresh rate-limit counters, fast hashing)."""

from __future__ import annotations

from tests.accounts.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    fast_hashing,
    fresh_cache,
    make_person,
    policy,
    server,
    sim,
)
