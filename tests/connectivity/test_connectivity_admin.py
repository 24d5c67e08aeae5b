"""The connectivity admin: networks, targets (secrets kept out of pages), history, dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from portal.connectivity import checks
from portal.connectivity.models import AlertChannel, CheckResult, Network, State, Target, TargetNetwork
from portal.models import WorkerHeartbeat
from tests.connectivity.factories import make_network, make_target, placement

pytestmark = pytest.mark.django_db


def test_it_adds_a_network_with_its_queue_and_beat_entries(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_network_add"),
        {
            "name": "backend-qa",
            "subnet": "172.30.0.0/16",
            "gateway": "172.30.0.1",
            "description": "",
            "worker_location": "detect",
            "host_addresses": "192.168.1.131",
            "alternative_hosts": "",
            "sweep_every_seconds": "30",
            "heartbeat_stale_after_seconds": "180",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    network = Network.objects.get(name="backend-qa")
    assert network.queue == "net.backend-qa"
    assert set(PeriodicTask.objects.filter(queue="net.backend-qa").values_list("task", flat=True)) == {
        "connectivity.network_sweep",
        "connectivity.network_heartbeat",
    }


def test_it_stores_a_target_password_encrypted_and_never_shows_it(admin_client: Client) -> None:
    network = make_network()
    response = admin_client.post(
        reverse("admin:connectivity_target_add"),
        {
            "name": "prod redis",
            "preset": "redis",
            "address": "redis://redis:6379/0",
            "new_password": "hunter2-secret",
            "expected_status": "",
            "keyword": "",
            "service_names": "redis",
            "timeout_seconds": "3",
            "interval_seconds": "60",
            "failure_threshold": "2",
            "enabled": "on",
            "verify_tls": "on",
            "placements-TOTAL_FORMS": "1",
            "placements-INITIAL_FORMS": "0",
            "placements-0-network": str(network.pk),
            "placements-0-expect": "unreachable",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    target = Target.objects.get(name="prod redis")
    assert target.kind == "redis" and target.password.reveal() == "hunter2-secret"
    assert placement(target, network).expect == "unreachable"

    page = admin_client.get(reverse("admin:connectivity_target_change", args=[target.pk])).content.decode()
    assert "hunter2-secret" not in page and str(target.__dict__["password"]) not in page
    assert reverse("admin:connectivity_target_check_now", args=[target.pk]) in page  # the button
    assert all("hunter2" not in entry.change_message for entry in LogEntry.objects.all())


def test_it_places_a_new_target_on_every_network_when_none_is_chosen(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_target_add"),
        {
            "name": "litellm everywhere",
            "preset": "litellm_liveliness",
            "address": "http://litellm:4000/health/liveliness",
            "timeout_seconds": "3",
            "interval_seconds": "60",
            "failure_threshold": "2",
            "enabled": "on",
            "placements-TOTAL_FORMS": "0",
            "placements-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    target = Target.objects.get(name="litellm everywhere")
    assert target.placements.count() == Network.objects.count()


def test_it_answers_a_bad_address_with_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_target_add"),
        {
            "name": "bad",
            "address": "litellm:4000",
            "expected_status": "two hundred",
            "timeout_seconds": "3",
            "interval_seconds": "60",
            "failure_threshold": "2",
            "placements-TOTAL_FORMS": "0",
            "placements-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "address" in errors and "expected_status" in errors


def test_it_keeps_a_webhook_url_out_of_the_channel_page(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:connectivity_alertchannel_add"),
        {
            "name": "slack",
            "kind": "webhook",
            "email_to": "",
            "new_webhook_url": "https://hooks.slack.com/services/T0/B0/very-secret",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    channel = AlertChannel.objects.get(name="slack")
    assert channel.webhook_url.reveal().endswith("very-secret")
    page = admin_client.get(
        reverse("admin:connectivity_alertchannel_change", args=[channel.pk])
    ).content.decode()
    assert "very-secret" not in page


def make_history(rows: int) -> tuple[Network, Target]:
    network = make_network("backend-hist")
    target = make_target("http://litellm:4000/health/liveliness", network, name="LiteLLM hist")
    now = timezone.now()
    # Old enough for both windows: a younger target says "since <date>" instead.
    Target.objects.filter(pk=target.pk).update(created_at=now - timedelta(days=8))
    CheckResult.objects.bulk_create(
        CheckResult(
            target=target,
            network=network,
            ok=i % 10 != 0,
            answered=i % 10 != 0,
            latency_ms=5.0 + i % 7,
            error_kind="" if i % 10 else "timeout",
            diagnosis="" if i % 10 else "Nothing answered at litellm:4000 within 5 s.",
            checked_at=now - timedelta(minutes=i),
        )
        for i in range(rows)
    )
    for i in range(rows):
        checks.rollup_add(
            target_id=target.pk,
            network_id=network.pk,
            at=now - timedelta(minutes=i),
            ok=i % 10 != 0,
            latency_ms=5.0 + i % 7,
        )
    return network, target


def test_it_lists_check_results_with_indexed_filters(admin_client: Client) -> None:
    network, target = make_history(150)
    url = reverse("admin:connectivity_checkresult_changelist")

    page = admin_client.get(url)
    filtered = admin_client.get(url, {"network__id__exact": str(network.pk), "ok__exact": "0"})
    by_error = admin_client.get(url, {"error_kind": "timeout", "target__id__exact": str(target.pk)})

    assert page.status_code == filtered.status_code == by_error.status_code == 200
    assert "Nothing answered at litellm:4000" in filtered.content.decode()
    assert len(filtered.context["cl"].result_list) == 15
    assert len(page.context["cl"].result_list) == 100  # one page, no full count


def test_it_shows_the_dashboard_with_state_sparkline_uptime_and_the_fix(admin_client: Client) -> None:
    network, target = make_history(120)
    TargetNetwork.objects.filter(target=target, network=network).update(
        state=State.DOWN,
        since=timezone.now(),
        last_error="Nothing answered at litellm:4000 within 5 s.",
        last_fix="Start LiteLLM, or check its port.",
        last_error_at=timezone.now(),
    )
    WorkerHeartbeat.objects.create(queue=network.queue, hostname="w", seen_at=timezone.now())

    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()

    assert "LiteLLM hist" in page and "backend-hist" in page
    assert "conn-state conn-down" in page
    assert "<svg" in page and "<polyline" in page
    assert "uptime 24 h 90.00 %" in page  # every 10th check failed
    assert "Fix: Start LiteLLM, or check its port." in page
    assert "<script" not in page.split('id="content-main"')[1]


def test_it_marks_a_silent_networks_states_stale_not_up(admin_client: Client) -> None:
    network = make_network("backend-quiet")
    target = make_target("http://litellm:4000/health/liveliness", network, name="quiet litellm")
    TargetNetwork.objects.filter(target=target).update(
        state=State.UP, since=timezone.now() - timedelta(days=1)
    )
    last_seen = timezone.now() - timedelta(hours=2)
    WorkerHeartbeat.objects.create(queue=network.queue, hostname="w", seen_at=last_seen)

    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()

    assert f"no worker on backend-quiet since {last_seen:%Y-%m-%d %H:%M:%S} UTC" in page
    row = page.split("quiet litellm")[1]
    assert "conn-state conn-stale" in row and "conn-state conn-up" not in row


def test_it_shows_the_worker_status_on_the_network_list(admin_client: Client) -> None:
    make_network("backend-listed")
    page = admin_client.get(reverse("admin:connectivity_network_changelist")).content.decode()
    assert "backend-listed" in page and "net.backend-listed" in page


def test_it_renders_the_dashboard_and_history_with_queries_independent_of_the_history_size(
    admin_client: Client,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    network, target = make_history(5)
    pages = [
        reverse("admin:connectivity_dashboard"),
        reverse("admin:connectivity_checkresult_changelist"),
        reverse("admin:connectivity_checkresult_changelist")
        + f"?network__id__exact={network.pk}&ok__exact=0",
    ]

    def counts() -> list[int]:
        found = []
        for url in pages:
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(url).status_code == 200
            found.append(len(captured.captured_queries))
        return found

    small = counts()
    CheckResult.objects.bulk_create(
        CheckResult(target=target, network=network, ok=i % 2 == 0, answered=True, checked_at=timezone.now())
        for i in range(500)
    )
    for _ in range(50):
        checks.rollup_add(
            target_id=target.pk, network_id=network.pk, at=timezone.now(), ok=False, latency_ms=None
        )
    assert counts() == small


def test_it_links_the_dashboard_from_the_connectivity_section(admin_client: Client) -> None:
    page = admin_client.get(reverse("admin:app_list", args=["connectivity"])).content.decode()
    assert reverse("admin:connectivity_dashboard") in page


def test_it_refuses_check_now_by_get(admin_client: Client) -> None:
    target = make_target("tcp://db:5432", make_network())
    response = admin_client.get(reverse("admin:connectivity_target_check_now", args=[target.pk]))
    assert response.status_code == 405


def test_the_network_list_keeps_nothing_of_a_request_on_the_shared_admin(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    """The admin instance serves every request of the process (and its threads): the workers'
    statuses ride on the rows of the request that listed them, in a constant number of queries."""
    from django.contrib import admin as django_admin

    seen = Network.objects.create(name="seen-net", subnet="10.91.0.0/24", gateway="10.91.0.1")
    Network.objects.create(name="silent-net", subnet="10.92.0.0/24", gateway="10.92.0.1")
    Network.objects.filter(name="silent-net").update(created_at=timezone.now() - timedelta(hours=2))
    WorkerHeartbeat.objects.create(queue=seen.queue, hostname="w1", seen_at=timezone.now())
    url = reverse("admin:connectivity_network_changelist")
    admin_client.get(url)  # warm the session and content types
    with django_assert_max_num_queries(12):
        page = admin_client.get(url).content.decode()
    assert "no worker on silent-net since" in page
    assert page.count("seen ") >= 1 and "no worker on seen-net" not in page
    network_admin = django_admin.site._registry[Network]
    assert not [name for name in vars(network_admin) if "status" in name or name.startswith("_request")]
    for index in range(10):
        Network.objects.create(name=f"more-{index}", subnet=f"10.93.{index}.0/24", gateway=f"10.93.{index}.1")
    with django_assert_max_num_queries(12):
        admin_client.get(url)


def test_a_target_younger_than_the_window_says_since_when(admin_client: Client) -> None:
    network = make_network("lab-young")
    target = make_target("http://127.0.0.1:9/health", network, name="young")
    Target.objects.filter(pk=target.pk).update(created_at=timezone.now() - timedelta(minutes=35))

    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()

    assert "uptime since " in page and "uptime 24 h" not in page


def test_an_up_target_shows_no_old_error_and_a_down_one_keeps_its_fix_one_click_away(
    admin_client: Client,
) -> None:
    network = make_network("lab-err")
    up = make_target("http://127.0.0.1:9/a", network, name="was-down")
    down = make_target("http://127.0.0.1:9/b", network, name="is-down")
    old = {
        "last_error": "Nothing listens on 127.0.0.1:9.",
        "last_fix": "Start it.",
        "last_error_at": timezone.now(),
    }
    TargetNetwork.objects.filter(target=up).update(state=State.UP, **old)
    TargetNetwork.objects.filter(target=down).update(state=State.DOWN, **old)

    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()

    assert page.count("Nothing listens on 127.0.0.1:9.") == 2  # is-down: the one line and the full text
    assert page.count("<details") == 1 and "Fix: Start it." in page.split("<details")[1]


def test_the_dashboard_refreshes_its_grid_from_a_static_script(admin_client: Client, client: Client) -> None:
    from django.contrib.staticfiles import finders

    make_target("http://127.0.0.1:9/health", make_network("lab-refresh"), name="refreshed")
    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()
    assert 'src="/static/portal/dashboard-refresh.js"' in page and finders.find("portal/dashboard-refresh.js")
    assert "?fragment=1" in page

    fragment = admin_client.get(reverse("admin:connectivity_dashboard") + "?fragment=1").content.decode()
    assert "refreshed" in fragment and "As of " in fragment
    assert "<html" not in fragment and "breadcrumbs" not in fragment
    # The fragment is the admin's like the page: no login, no grid.
    anonymous = client.get(reverse("admin:connectivity_dashboard") + "?fragment=1")
    assert anonymous.status_code == 302 and "refreshed" not in anonymous.content.decode()
