from __future__ import annotations

import json

import pytest
from django.test import Client

from portal.celery import app


def test_it_answers_liveness_without_touching_dependencies(client: Client) -> None:
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_reports_ready_when_database_and_broker_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "secrets": "ok"}


@pytest.mark.django_db
def test_it_reports_503_naming_the_broker_when_it_is_down(client: Client, unused_tcp_port: int) -> None:
    original = app.conf.broker_url
    # /readyz opens a fresh broker connection each time, so changing the URL is enough.
    app.conf.update(broker_url=f"redis://user:hunter2@127.0.0.1:{unused_tcp_port}/0")
    try:
        response = client.get("/readyz")
    finally:
        app.conf.update(broker_url=original)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down: ")
    assert "hunter2" not in json.dumps(body)
