"""The page benchmarks' shared kit: a logged-in client, a page rendered N times (its queries
counted, the fastest render kept), and the line comparing the small size with the large one.

Each page bench builds its rows at each size, calls `measure_pages` there, then `report` once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

BENCH_EMAIL = "bench-admin@example.com"

# page name -> size -> (queries, fastest render in seconds)
Measured = dict[str, dict[int, tuple[int, float]]]


@dataclass(frozen=True)
class Page:
    client: Any  # django.test.Client, logged in
    url: str
    renders: int
    goal_ratio: float = 2.0
    must_contain: bytes = b""  # checked on the warm-up renders: the page shows what it should


def staff_client(email: str = BENCH_EMAIL) -> Any:
    """A client logged in as the bench's superuser (made on first use)."""
    from portal.accounts.models import User

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_superuser(email=email, password=None)
    return logged_in(user)


def logged_in(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def measure(page: Page) -> tuple[int, float]:
    """(queries of one render, fastest of `page.renders` renders in seconds)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches and the template loader
        response = page.client.get(page.url)
        assert getattr(response, "status_code", 0) == 200, (page.url, response)
        assert page.must_contain in response.content, (page.url, page.must_contain)
    times = []
    queries = 0
    slowest: dict[str, str] = {}
    for _ in range(page.renders):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            page.client.get(page.url)
            times.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"   slowest query {float(slowest['time']) * 1000:.1f} ms: {slowest['sql'][:160]}")
    # The fastest render: other work on the machine only ever adds time.
    return queries, min(times)


def measure_pages(bench: str, pages: dict[str, Page], measured: Measured, *, unit: str, size: int) -> None:
    """Measure every page at this size into `measured`, a line each."""
    for name, page in pages.items():
        queries, seconds = measure(page)
        measured.setdefault(name, {})[size] = (queries, seconds)
        print(
            f"{bench}: page={name} {unit}={size} queries={queries} render_ms={seconds * 1000:.1f}",
            flush=True,
        )


def report(bench: str, pages: dict[str, Page], measured: Measured, sizes: tuple[int, int]) -> None:
    """Each page's goal line: the same queries at both sizes, the large render within its ratio."""
    small, large = sizes
    for name, page in pages.items():
        (q_small, t_small), (q_large, t_large) = measured[name][small], measured[name][large]
        print(
            f"{bench}: page={name} queries_{small}={q_small} queries_{large}={q_large} "
            f"equal={q_small == q_large} render_ratio={t_large / t_small:.2f} "
            f"(goal: equal queries, ratio <= {page.goal_ratio})",
            flush=True,
        )
