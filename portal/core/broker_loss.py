"""A task that finishes after its broker connection was lost must not take the worker down.

With late acks (portal/settings.py: CELERY_TASK_ACKS_LATE) a task is acknowledged when it
ends. When Redis goes away mid-task, Celery closes the broken connection at once
(`Consumer.on_connection_error_after_connected`) while the pool child runs on. When the
child then finishes, Celery acknowledges on the message's old channel, and kombu's Redis
channel, half-closed by the failed close, looks for its connection settings on a transport
whose client is gone: `AttributeError: 'NoneType' object has no attribute 'hostname'`. That
error is not a connection error, so it escapes the event loop and the worker stops
("Unrecoverable error"), leaving every queued wake-up of its network unserved until
something restarts it (seen under load in CI: tests/faults/test_broker_restart.py).

The acknowledgement cannot reach the broker anyway: that connection is gone. So a request
whose channel has lost its connection is marked done here without a broker call. Nothing is
lost: Celery already restored the unacknowledged messages when it saw the loss (or the
broker that restarted forgot them), and every task is safe to run twice because the rows,
not the messages, say what is due (portal.core.work).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.worker.request import Request
from kombu.transport import virtual

logger = logging.getLogger(__name__)


def channel_has_lost_its_connection(channel: Any) -> bool:
    """True when a kombu virtual-transport channel (Redis, the embedded broker) can no longer
    reach its broker: closed, detached from its transport, or its transport's client gone."""
    if not isinstance(channel, virtual.Channel):
        return False  # AMQP channels report their own state through connection errors
    transport = getattr(channel, "connection", None)
    return bool(channel.closed) or transport is None or getattr(transport, "client", None) is None


class BrokerLossSafeRequest(Request):
    """Celery's request, except that an ack or a reject on a lost channel is skipped, logged."""

    def _settle_without_broker(self, what: str) -> bool:
        if self.acknowledged or not channel_has_lost_its_connection(self.message.channel):
            return False
        logger.warning(
            "task %s[%s] finished after the broker connection was lost: its %s was not sent; "
            "the broker redelivers the message or has forgotten it, and the work rows say what "
            "is still due",
            self.task_name,
            self.id,
            what,
        )
        self.acknowledged = True
        return True

    def acknowledge(self) -> None:
        if not self._settle_without_broker("acknowledgement"):
            super().acknowledge()

    def reject(self, requeue: bool = False) -> None:
        if not self._settle_without_broker("rejection"):
            super().reject(requeue=requeue)


class PortalTask(Task):
    """The base of every portal task (portal/celery.py): Celery's, with the request above."""

    Request = "portal.core.broker_loss:BrokerLossSafeRequest"
