"""LiteLLM: the key sync against the simulator, and the key admin list at 1,000 vs 1,000,000 rows.

Figures are ratios measured inside one run:
- sync of 10,000 keys: wall time / time to merely download the same pages (goal <= 1.5),
  list calls (goal ceil(10,000 / 100) = 100), queries (bounded: a few per page);
- admin key list: queries at 1,000 and at 1,000,000 rows (goal equal), render time ratio
  (goal <= 2). The million rows are made by PostgreSQL itself (INSERT ... SELECT
  generate_series), not by Python.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from bench import size

ROOT = Path(__file__).resolve().parent.parent

SYNC_KEYS = size(10_000, 300)
ROUNDS = size(3, 1)
PAGE_SIZE = 100
SMALL_LIST = size(1_000, 100)
LARGE_LIST = size(1_000_000, 2_000)


def _rows_label(rows: int) -> str:
    return {1_000: "1k", 1_000_000: "1m"}.get(rows, str(rows))


def run() -> None:
    bench_sync()
    bench_admin_list()


def _clean() -> None:
    from django.db import connection

    # TRUNCATE: no dead rows left to skew the next figure. CASCADE: the rows that point at these
    # (personal keys, pairings, their drift findings) go too; this is the bench's own database.
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE litellm_virtualkey, litellm_litellmmodel, litellm_litellmserver, litellm_keyplan CASCADE"
        )


class QueryCounter:
    """Counts every SQL statement this thread sends (robust across requests, unlike queries_log)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> QueryCounter:
        from django.db import connection

        self._cm = connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


class SimulatorProcess:
    """The simulator in its own process, so its work does not share this process's GIL."""

    def __init__(self, master_key: str) -> None:
        self.master_key = master_key

    def __enter__(self) -> SimulatorProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.simulators.litellm",
                "--port",
                "0",
                "--master-key",
                self.master_key,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.base_url = line.split(" ", 1)[1]
        return self

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(
            method,
            self.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.master_key}"},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def calls(self, method: str, path: str) -> int:
        state = self.control("GET", "/_sim/state")
        return sum(c["count"] for c in state["calls"] if c["method"] == method and c["path"] == path)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def bench_sync() -> None:
    from integrations.litellm import sync
    from integrations.litellm.client import LiteLLMClient
    from integrations.litellm.models import LiteLLMServer, VirtualKey

    master = "sk-bench-master-0123456789abcdef"
    pages = math.ceil(SYNC_KEYS / PAGE_SIZE)
    _clean()
    with SimulatorProcess(master) as sim:
        raws = sim.control(
            "POST",
            "/_sim/seed_keys",
            {
                "n": SYNC_KEYS,
                "fields": {
                    "key_alias": "bench-{i}",
                    "user_id": "bench-owner",
                    "max_budget": 5.0,
                    "rpm_limit": 60,
                },
            },
        )["keys"]
        server = LiteLLMServer(name="bench", base_url=sim.base_url, network="backend-dev")
        server.master_key = master
        server.save()

        client = LiteLLMClient(base_url=sim.base_url, master_key=master)
        client.key_list(page=1, size=PAGE_SIZE)  # warm the connection and the simulator's sort cache
        # Best of ROUNDS for each figure: the machine is shared, and a slow outlier says
        # nothing about the code.
        downloads, walls, again_walls = [], [], []
        for round_number in range(ROUNDS):
            started = time.perf_counter()
            for number in range(1, pages + 1):
                client.key_list(page=number, size=PAGE_SIZE)
            downloads.append(time.perf_counter() - started)

            VirtualKey.objects.filter(server=server).delete()
            sim.control("POST", "/_sim/reset_calls")
            with QueryCounter() as queries:
                started = time.perf_counter()
                report = sync.keys_sync(server=server, client=client)
                walls.append(time.perf_counter() - started)
            list_calls = sim.calls("GET", "/key/list")
            assert VirtualKey.objects.filter(server=server).count() == SYNC_KEYS

            for raw in raws[round_number::100]:  # 1% of the keys spent something since
                sim.control("POST", "/_sim/set_spend", {"token": raw, "spend": 1.25 + round_number})
            with QueryCounter() as again_queries:
                started = time.perf_counter()
                again = sync.keys_sync(server=server, client=client)
                again_walls.append(time.perf_counter() - started)
        client.close()
    download, wall, again_wall = min(downloads), min(walls), min(again_walls)

    print(
        f"litellm_sync: keys={SYNC_KEYS} best_of={ROUNDS} first_sync_wall_s={wall:.2f} download_only_s={download:.2f} "
        f"ratio={wall / download:.2f} list_calls={list_calls} queries={queries.count} "
        f"adopted={report.adopted} (goal ratio <= 1.5, list_calls == {pages}, queries bounded per page)",
        flush=True,
    )
    print(
        f"litellm_sync_again: wall_s={again_wall:.2f} ratio={again_wall / download:.2f} "
        f"list_calls={again.list_calls} queries={again_queries.count} adopted={again.adopted} "
        f"updated={again.updated} (1% of the keys changed spend; nothing adopted)",
        flush=True,
    )


def bench_admin_list() -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from integrations.litellm.models import LiteLLMServer

    _clean()
    server = LiteLLMServer(name="bench", base_url="http://litellm:4000", network="backend-dev")
    server.master_key = "sk-bench-master-0123456789abcdef"
    server.save()
    User = get_user_model()
    user = User.objects.filter(email="bench@example.com").first() or User.objects.create_superuser(
        email="bench@example.com", password="bench password long enough"
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)

    def insert(start: int, stop: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO litellm_virtualkey (
                    server_id, key_alias, owner, allowed_models, max_budget, budget_duration, spend,
                    expires, metadata, blocked, token_hash, key_name, keep_secret, handed_on, origin, status,
                    pending_action, pending_changes, attempts, rotation_step, rotation_old_hash,
                    last_action, last_action_detail, sync_fingerprint, created_at, updated_at,
                    last_used_at, drift_limits, drift_found_at
                )
                SELECT %s, 'key-' || i, 'owner-' || (i %% 5000), '[]'::jsonb, 10, '30d', (i %% 13),
                    CASE WHEN i %% 7 = 0 THEN now() - interval '1 day' ELSE NULL END, '{}'::jsonb,
                    (i %% 11 = 0), md5(i::text) || md5((i + 1)::text), 'sk-...' || right(md5(i::text), 4),
                    false, false, 'found', 'active', '', '{}'::jsonb, 0, '', '', '', '', '',
                    now() - (i %% 365) * interval '1 day', now(),
                    -- a third never used, the rest last used 0 to 199 days ago; 1 in 1,000 drifted
                    CASE WHEN i %% 3 = 0 THEN NULL ELSE now() - (i %% 200) * interval '1 day' END,
                    CASE WHEN i %% 1000 = 0 THEN '{"max_budget": "20.0000"}'::jsonb ELSE '{}'::jsonb END,
                    CASE WHEN i %% 1000 = 0 THEN now() ELSE NULL END
                FROM generate_series(%s, %s) AS i
                """,
                [server.pk, start, stop - 1],
            )
            cursor.execute("ANALYZE litellm_virtualkey")

    url = "/admin/litellm/virtualkey/"
    queries_to_check = (
        "",
        "?state=blocked",
        "?owner=owner-42",
        "?over_budget=yes",
        "?expired=yes",
        "?q=key-4242",
        "?idle=never",
        "?idle=30",
        "?idle=90",
        "?drift=yes",
    )

    def measure() -> tuple[int, float, dict[str, float]]:
        for _ in range(2):
            assert client.get(url).status_code == 200  # warm caches and plans
        with QueryCounter() as counter:
            response = client.get(url)
        assert response.status_code == 200
        times = []
        for _ in range(7):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        filtered = {}
        for q in queries_to_check[1:]:
            client.get(url + q)
            started = time.perf_counter()
            assert client.get(url + q).status_code == 200
            filtered[q] = time.perf_counter() - started
        return counter.count, statistics.median(times), filtered

    insert(1, SMALL_LIST + 1)
    small_queries, small_time, small_filtered = measure()
    started = time.perf_counter()
    insert(SMALL_LIST + 1, LARGE_LIST + 1)
    build = time.perf_counter() - started
    large_queries, large_time, large_filtered = measure()
    small, large = _rows_label(SMALL_LIST), _rows_label(LARGE_LIST)  # 1k and 1m under `make bench`
    print(
        f"litellm_admin_list: queries_{small}={small_queries} queries_{large}={large_queries} "
        f"render_{small}_ms={small_time * 1000:.1f} render_{large}_ms={large_time * 1000:.1f} "
        f"ratio={large_time / small_time:.2f} build_{large}_rows_s={build:.1f} "
        "(goal queries equal, ratio <= 2)",
        flush=True,
    )
    print(
        f"litellm_admin_list_filters_{large}_ms: "
        + " ".join(f"{q[1:]}={t * 1000:.0f}" for q, t in large_filtered.items())
        + f" (vs {small}: "
        + " ".join(f"{q[1:]}={t * 1000:.0f}" for q, t in small_filtered.items())
        + ")",
        flush=True,
    )
    _clean()
