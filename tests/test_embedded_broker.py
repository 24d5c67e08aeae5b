"""The embedded broker (portal/embedded_broker.py) on a real SQLite file: messages whole, in
order, once, and the table empty once they are delivered."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from kombu import Connection

import portal.celery  # noqa: F401 - names the portal-sqlite transport


def rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("select count(*) from kombu_message").fetchone()[0])


def test_every_message_arrives_once_in_order_and_leaves_no_row(tmp_path: Path) -> None:
    path = tmp_path / "broker.sqlite3"
    with Connection(f"portal-sqlite+sqlite:///{path}") as publisher:
        queue = publisher.SimpleQueue("default")
        for n in range(20):
            queue.put({"n": n, "text": "x" * 2000})
        queue.close()
    assert rows(path) == 20
    with Connection(f"portal-sqlite+sqlite:///{path}") as consumer:
        queue = consumer.SimpleQueue("default")
        received = []
        for _ in range(20):
            message = queue.get(timeout=5)
            received.append(message.payload)
            message.ack()
        assert queue.qsize() == 0
        queue.close()
    assert [m["n"] for m in received] == list(range(20))
    assert all(len(m["text"]) == 2000 for m in received)
    assert rows(path) == 0  # kombu's own channel keeps all 20, invisible, for ever
