from __future__ import annotations

import time

import pytest

from portal.celery import app
from portal.models import WorkerHeartbeat
from portal.tasks import worker_heartbeat


def test_it_is_configured_for_at_least_once_delivery() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.task_always_eager is False


@pytest.mark.slow
def test_it_takes_a_task_from_redis_and_writes_to_postgresql(celery_worker) -> None:
    assert app.conf.broker_url.startswith("redis://")
    worker_heartbeat.apply_async(kwargs={"queue": "default"}, queue="default")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        heartbeat = WorkerHeartbeat.objects.filter(queue="default").first()
        if heartbeat is not None:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the worker wrote nothing; its log:\n{celery_worker.log()}")
    assert heartbeat.hostname.startswith("test-")
