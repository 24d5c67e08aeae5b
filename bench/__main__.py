"""Run the benchmarks: `python -m bench [name ...]` (make bench)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import QUICK


def _use_bench_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench: run through `make bench` (it needs PostgreSQL and Redis)")
    parts = urlsplit(url)
    # Named after the checkout's database (portal_s3 -> portal_s3_bench under TEST_SLOT=3), so
    # parallel checkouts never bench in each other's tables.
    name = (parts.path.strip("/") or "portal") + "_bench"
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _use_bench_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.test.utils import setup_test_environment

    # Once for every benchmark: the test client's host name, and mail kept in memory.
    setup_test_environment()
    call_command("migrate", verbosity=0)
    names = [
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    ]
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    if QUICK:
        print(
            "bench: quick mode (BENCH_QUICK=1): small sizes, figures not comparable to the goals", flush=True
        )
    failed = 0
    for name in sorted(wanted):
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            module.run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed += 1
            print(f"{name}: FAILED {type(exc).__name__}: {exc}", flush=True)
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
