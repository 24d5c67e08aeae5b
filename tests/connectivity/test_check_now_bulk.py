"""The targets list's bulk "Check now" (portal/connectivity/admin_check_now.py), without a worker:
what its progress page says about each chosen target, and what the request costs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.connectivity.factories import make_network, make_target

pytestmark = pytest.mark.django_db


def bulk_check_now(client: Client, pks: list[int]) -> str:
    """The progress page's address."""
    response = client.post(
        reverse("admin:connectivity_target_changelist"),
        {"action": "check_now", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    return str(response["Location"])


def test_a_target_on_no_network_is_named_on_the_progress_page(admin_client: Client) -> None:
    # Found walking make run: a chosen target placed on no network vanished from the page (the
    # button on its own page says "not placed on any network"; the bulk page said nothing).
    one, two = make_network(), make_network()
    placed = make_target("http://127.0.0.1:9/health", one, two, name="placed")
    nowhere = make_target("http://127.0.0.1:9/health", name="nowhere")
    page = admin_client.get(bulk_check_now(admin_client, [placed.pk, nowhere.pk])).content.decode()
    assert "Check now: 2 targets, 2 checks" in page  # one check per (target, network)
    assert "nowhere: not placed on any network, so nothing was checked" in page
    assert f"placed from {one.name}" in page and f"placed from {two.name}" in page


def test_the_request_reads_the_placements_once_for_all_targets(admin_client: Client) -> None:
    # It read each target's placements in a query of its own.
    network = make_network()
    few = [make_target("http://127.0.0.1:9/health", network).pk for _ in range(2)]
    many = [make_target("http://127.0.0.1:9/health", network).pk for _ in range(12)]
    counts = []
    for pks in (few, many):
        with CaptureQueriesContext(connection) as queries:
            bulk_check_now(admin_client, pks)
        # The admin's log (one row per target, as Django's own actions write) aside.
        counts.append(sum("django_admin_log" not in q["sql"] for q in queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_the_progress_page_looks_up_each_queue_s_worker_once(admin_client: Client) -> None:
    # It read the heartbeat (and the network's staleness) once per line, every 2 s refresh.
    network = make_network()
    few = bulk_check_now(admin_client, [make_target("http://127.0.0.1:9/", network).pk for _ in range(2)])
    many = bulk_check_now(admin_client, [make_target("http://127.0.0.1:9/", network).pk for _ in range(12)])
    counts = []
    for page in (few, many):
        with CaptureQueriesContext(connection) as queries:
            text = admin_client.get(page + "?fragment=1").content.decode()
        assert f"no worker heard on it ever; start one (celery worker -Q {network.queue})" in text
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts
