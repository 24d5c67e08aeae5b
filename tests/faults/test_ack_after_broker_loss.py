"""A task that ends after its broker vanished: its ack must not stop the worker.

The channel is brought to the state CI met (tests/faults/test_broker_restart.py, under load)
by real operations only: a real Redis, a real kombu consumer with its BRPOP in flight, the
broker killed, then the connection closed as Celery closes it on a connection error
(`Consumer.on_connection_error_after_connected`). The close fails half-way: the channel is not
marked closed, yet its transport's client is gone. When the close got as far as dropping the
channel's pools (its first step), Celery's own request raises AttributeError from inside
kombu, which the worker's event loop treats as unrecoverable.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from celery.worker.request import Request
from kombu import Connection, Consumer, Queue
from kombu.message import Message

from portal.celery import app
from portal.core.broker_loss import BrokerLossSafeRequest, channel_has_lost_its_connection
from portal.models import WorkerHeartbeat
from tests.faults.private_redis import PrivateRedis
from tests.workers import CeleryWorker

QUEUE = "ack-after-loss"
TASK = "librechat.account_provision"


def received_message(connection: Connection) -> Message:
    """One real task message, sent the way the portal sends it and taken by a consumer."""
    queue = Queue(QUEUE)
    app.send_task(TASK, kwargs={"account_id": 1}, queue=QUEUE, connection=connection)
    got: list[Message] = []
    consumer = Consumer(connection.channel(), [queue], callbacks=[lambda _body, m: got.append(m)])
    consumer.consume()
    connection.drain_events(timeout=5)
    with contextlib.suppress(TimeoutError):
        connection.drain_events(timeout=0.2)  # the consumer's next BRPOP is now in flight
    assert len(got) == 1
    return got[0]


lost_channels: list[object] = []


def lose_the_broker(broker: PrivateRedis, connection: Connection) -> None:
    broker.kill()
    lost_channels.extend(getattr(connection.transport, "channels", []))
    with contextlib.suppress(Exception):  # Celery ignores the close's errors the same way
        connection.close()


@pytest.fixture(autouse=True)
def quiet_exit() -> Iterator[None]:
    """kombu restores a dead channel's unacked messages at interpreter exit, and prints the
    failure to stderr at the end of the run: run that restore now, where its error is expected."""
    yield
    while lost_channels:
        channel = lost_channels.pop()
        with contextlib.suppress(Exception):
            channel.qos.restore_unacked_once()  # type: ignore[attr-defined]


def request_for(cls: type[Request], message: Message, connection: Connection) -> Request:
    return cls(
        message,
        on_ack=message.ack_log_error,
        on_reject=message.reject_log_error,
        app=app,
        task=app.tasks[TASK],
        connection_errors=connection.connection_errors,
    )


def unacked_count(broker: PrivateRedis) -> int:
    return int(redis.Redis.from_url(broker.url).hlen("unacked"))


def test_every_portal_task_uses_the_broker_loss_safe_request() -> None:
    assert app.tasks[TASK].Request == "portal.core.broker_loss:BrokerLossSafeRequest"
    assert all(
        task.Request == "portal.core.broker_loss:BrokerLossSafeRequest"
        for name, task in app.tasks.items()
        if not name.startswith("celery.")
    )


def test_a_live_channel_is_acknowledged_at_the_broker(private_redis: PrivateRedis) -> None:
    connection = Connection(private_redis.url)
    message = received_message(connection)
    assert unacked_count(private_redis) == 1
    assert not channel_has_lost_its_connection(message.channel)
    request = request_for(BrokerLossSafeRequest, message, connection)
    request.acknowledge()
    assert request.acknowledged
    assert unacked_count(private_redis) == 0  # the broker was told: nothing is redelivered
    connection.close()


def message_on_a_half_closed_channel(broker: PrivateRedis) -> tuple[Message, Connection]:
    """A received message whose channel is in the state CI met when its worker stopped."""
    connection = Connection(broker.url)
    message = received_message(connection)
    lose_the_broker(broker, connection)
    channel: Any = message.channel
    assert channel.closed is False and channel.connection.client is None  # the half-closed state
    channel._disconnect_pools()  # the first step of the channel's close, as in CI
    return message, connection


def test_celery_s_own_request_raises_where_ours_settles_quietly(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    message, connection = message_on_a_half_closed_channel(private_redis)

    with pytest.raises(AttributeError, match="hostname"):
        request_for(Request, message, connection).acknowledge()  # what stopped CI's worker

    assert channel_has_lost_its_connection(message.channel)
    ours = request_for(BrokerLossSafeRequest, message, connection)
    with caplog.at_level(logging.WARNING, logger="portal.core.broker_loss"):
        ours.acknowledge()
        ours.acknowledge()  # a second settle is a no-op, as Celery's is
    assert ours.acknowledged
    warnings = [r.getMessage() for r in caplog.records if r.name == "portal.core.broker_loss"]
    assert len(warnings) == 1
    assert TASK in warnings[0] and "acknowledgement was not sent" in warnings[0]
    assert "account_id" not in warnings[0]  # names the task, never its arguments


def test_a_rejection_on_a_lost_channel_is_settled_too(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    message, connection = message_on_a_half_closed_channel(private_redis)
    ours = request_for(BrokerLossSafeRequest, message, connection)
    with caplog.at_level(logging.WARNING, logger="portal.core.broker_loss"):
        ours.reject(requeue=True)
    assert ours.acknowledged
    assert any("rejection was not sent" in r.getMessage() for r in caplog.records)


def test_a_broker_that_comes_back_still_gets_later_acks(private_redis: PrivateRedis) -> None:
    """Only the lost channel is settled without the broker; a new connection acks as usual."""
    old = Connection(private_redis.url)
    received_message(old)
    lose_the_broker(private_redis, old)
    private_redis.start()
    fresh = Connection(private_redis.url)
    message = received_message(fresh)
    request = request_for(BrokerLossSafeRequest, message, fresh)
    request.acknowledge()
    assert unacked_count(private_redis) == 0
    fresh.close()


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_acknowledges_every_task_at_the_broker_as_before(
    private_redis: PrivateRedis,
    portal_broker: str,
    start_worker: Callable[..., CeleryWorker],
) -> None:
    """The guard must never fire on a healthy channel: a skipped ack would leave the message in
    Redis's unacked hash, to be run again after the visibility timeout (an hour)."""
    from portal.tasks import worker_heartbeat

    worker = start_worker(broker_url=private_redis.url, concurrency=2)
    for _ in range(10):
        worker_heartbeat.apply_async(kwargs={"queue": "default"}, queue="default")
    client = redis.Redis.from_url(private_redis.url)
    deadline = time.monotonic() + 30
    while (
        worker.log().count("portal.worker_heartbeat") < 20 or client.hlen("unacked") or client.llen("default")
    ):
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.filter(queue="default").exists()
    assert "was not sent" not in worker.log()
