"""The embedded default's Celery broker: kombu's SQLAlchemy transport on SQLite, without its growth.

Why this transport (not kombu's filesystem one): a filesystem message file exists before its
bytes are written and the reader takes no lock, so the worker dies of a JSONDecodeError;
SQLite commits a message whole or not at all.

Why a subclass: kombu's SQLAlchemy channel marks a delivered message invisible and keeps the
row for ever (it never redelivers it either: the transport has no visibility timeout), so
var/broker.sqlite3 would grow by every beat message. This channel deletes the row in the
same transaction that takes it; nothing else changes. The database stays the source of truth
for work in flight (a beat job picks up due rows), so a message is only a wake-up call.

Named in portal/celery.py as the `portal-sqlite` transport (`portal-sqlite+sqlite:///...`).
"""

from __future__ import annotations

from json import loads
from queue import Empty
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import text


class Channel(kombu_sqlalchemy.Channel):
    def _get(self, queue: str, timeout: float | None = None) -> Any:
        obj = self._get_or_create(queue)  # type: ignore[attr-defined]  # the stubs know only virtual.Channel
        # Take SQLite's write lock before reading, so two consumers never take the same row.
        self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                self.session.query(self.message_cls)
                .filter(self.message_cls.queue_id == obj.id)
                .filter(self.message_cls.visible == True)  # noqa: E712 - SQL, not Python truth
                .order_by(self.message_cls.sent_at, self.message_cls.id)
                .first()
            )
            if message is None:
                raise Empty()
            payload = message.payload
            self.session.delete(message)
            return loads(bytes_to_str(payload))
        finally:
            self.session.commit()


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
