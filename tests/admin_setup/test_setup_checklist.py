"""The guided setup on the admin index reads the real state, line by line, in a few queries;
people waiting for approval are counted there, filtered on People and approved in bulk."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import CheckStatus, KeyPlan, LiteLLMServer
from portal.access.models import Pairing
from portal.accounts.models import SignupMode, SignupPolicy, User
from portal.connectivity.models import Network
from portal.core.heartbeats import heartbeat_record
from portal.models import WorkerHeartbeat
from portal.setup_checklist import setup_checklist

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x long passphrase"))
    return client


def steps() -> dict[str, tuple[bool, str, str]]:
    return {s.key: (s.done, s.sentence, s.url) for s in setup_checklist().steps}


def index_lines(staff: Client) -> dict[str, str]:
    html = staff.get("/admin/").content.decode()
    found = re.findall(r'data-step="(\w+)">(.*?)</li>', html, flags=re.S)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for key, body in found}


def test_an_empty_portal_has_every_step_to_do_with_the_page_that_does_it(staff: Client) -> None:
    Network.objects.all().delete()
    lines = index_lines(staff)
    assert all(
        lines[key].startswith("to do") for key in ("litellm", "librechat", "pairing", "signup", "workers")
    )
    assert "Signup: anyone may ask; staff approve (the default; no policy saved yet)" in lines["signup"]
    assert "Nobody is waiting for approval." in lines["approvals"]
    state = steps()
    assert state["litellm"][2] == "/admin/litellm/litellmserver/add/"
    assert state["librechat"][2] == "/admin/librechat/librechatserver/add/"
    assert state["pairing"][2] == "/admin/litellm/keyplan/add/"  # a pairing needs a plan first
    assert state["signup"][2] == "/admin/accounts/signuppolicy/"
    assert state["workers"][2] == "/admin/connectivity/network/add/"


def test_each_step_turns_done_from_the_stored_state(staff: Client) -> None:
    server = LiteLLMServer(name="litellm-dev", base_url="http://litellm:4000", network="backend-dev")
    server.master_key = "sk-master"
    server.save()
    done, sentence, url = steps()["litellm"]
    assert not done and "litellm-dev: not checked yet (last tested never)" in sentence
    assert url == f"/admin/litellm/litellmserver/{server.pk}/change/"
    LiteLLMServer.objects.filter(pk=server.pk).update(check_status=CheckStatus.FAILED)
    assert "not reachable" in steps()["litellm"][1]
    checked = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
    LiteLLMServer.objects.filter(pk=server.pk).update(check_status=CheckStatus.OK, checked_at=checked)
    assert steps()["litellm"][:2] == (True, "litellm-dev passed Test connection (2026-12-02 09:30 UTC).")

    chat = LibreChatServer.objects.create(
        name="chat", api_url="http://librechat-api:3080", network="backend-dev"
    )
    assert steps()["librechat"][0]
    LibreChatServer.objects.filter(pk=chat.pk).update(api_url="http://elsewhere:3080")
    assert not steps()["librechat"][0] and "not confirmed" in steps()["librechat"][1]

    plan = KeyPlan.objects.create(name="staff", max_budget=Decimal("5"))
    assert steps()["pairing"][2] == "/admin/access/pairing/add/"
    Pairing.objects.create(librechat_server=chat, litellm_server=server, default_plan=plan)
    assert steps()["pairing"][:2] == (True, "People of chat get their keys from litellm-dev.")
    assert steps()["litellm"][1].endswith("and people's keys come from there.")

    SignupPolicy.objects.create(mode=SignupMode.DOMAINS, allowed_domains="corp.test\nm\u00fcller.de")
    assert steps()["signup"][:2] == (
        True,
        "Signup: only the allowed email domains (corp.test, xn--mller-kva.de).",
    )


def test_once_paired_the_litellm_step_looks_at_the_server_that_makes_the_keys(staff: Client) -> None:
    """A proxy tested only for its models does not make the step done while the paired one,
    where people's keys are made, has not passed Test connection."""
    checked = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
    models_only = LiteLLMServer(name="litellm-models", base_url="http://a:4000", network="backend-dev")
    keys = LiteLLMServer(name="litellm-keys", base_url="http://b:4000", network="backend-dev")
    for server in (models_only, keys):
        server.master_key = "sk-master"
        server.save()
    LiteLLMServer.objects.filter(pk=models_only.pk).update(check_status=CheckStatus.OK, checked_at=checked)
    assert steps()["litellm"][:2] == (True, "litellm-models passed Test connection (2026-12-02 09:30 UTC).")
    chat = LibreChatServer.objects.create(
        name="chat", api_url="http://librechat-api:3080", network="backend-dev"
    )
    plan = KeyPlan.objects.create(name="staff", max_budget=Decimal("5"))
    Pairing.objects.create(librechat_server=chat, litellm_server=keys, default_plan=plan)
    done, sentence, url = steps()["litellm"]
    assert not done and sentence.startswith(
        "litellm-keys: not checked yet (last tested never). People's keys"
    )
    assert url == f"/admin/litellm/litellmserver/{keys.pk}/change/"
    LiteLLMServer.objects.filter(pk=keys.pk).update(check_status=CheckStatus.OK, checked_at=checked)
    assert steps()["litellm"][:2] == (
        True,
        "litellm-keys passed Test connection (2026-12-02 09:30 UTC), and people's keys come from there.",
    )


def test_the_workers_step_names_each_network_not_heard(staff: Client) -> None:
    Network.objects.all().delete()
    dev, prod = Network.objects.create(name="backend-dev"), Network.objects.create(name="backend-prod")
    heartbeat_record(queue=dev.queue, hostname="worker-dev")
    done, sentence, _ = steps()["workers"]
    assert not done and "No worker heard lately on backend-prod." in sentence
    assert (
        f"celery -A portal worker -Q {prod.queue}." in sentence
        and "backend-dev" not in sentence.split(".")[0]
    )
    heartbeat_record(queue=prod.queue, hostname="worker-prod")
    assert steps()["workers"][:2] == (True, "A worker answers on backend-dev, backend-prod.")
    old = timezone.now() - dt.timedelta(seconds=dev.heartbeat_stale_after_seconds + 5)
    WorkerHeartbeat.objects.filter(queue=dev.queue).update(seen_at=old)
    assert "No worker heard lately on backend-dev." in steps()["workers"][1]


def test_the_index_reads_the_checklist_in_a_handful_of_queries(staff: Client) -> None:
    for n in range(30):
        User.objects.create_user(email=f"p{n}@example.com", email_verified_at=timezone.now())
    staff.get("/admin/")  # warm the session and content types
    with CaptureQueriesContext(connection) as checklist_only:
        setup_checklist()
    assert len(checklist_only) <= 10, [q["sql"] for q in checklist_only]
    assert "30 people waiting for approval." in index_lines(staff)["approvals"]


def test_staff_filter_people_waiting_and_approve_them_in_bulk(staff: Client) -> None:
    now = timezone.now()
    waiting = [User.objects.create_user(email=f"w{n}@example.com", email_verified_at=now) for n in range(3)]
    User.objects.create_user(email="unconfirmed@example.com")
    User.objects.create_user(email="in@example.com", email_verified_at=now, approved_at=now)
    User.objects.create_user(email="suspended@example.com", email_verified_at=now, is_active=False)

    page = staff.get("/admin/accounts/user/?signup=waiting").content.decode()
    listed = set(re.findall(r"[\w.]+@example\.com", page)) - {"ops@example.com"}
    assert listed == {"w0@example.com", "w1@example.com", "w2@example.com"}
    page = staff.get("/admin/accounts/user/?signup=unconfirmed").content.decode()
    assert set(re.findall(r"[\w.]+@example\.com", page)) == {"unconfirmed@example.com", "ops@example.com"}

    response = staff.post(
        "/admin/accounts/user/",
        {
            "action": "approve",
            "_selected_action": [p.pk for p in [*waiting, User.objects.get(email="in@example.com")]],
            "post": "yes",  # past the confirmation page (portal.core.confirm)
        },
        follow=True,
    )
    assert "3 approved (1 approved before)" in response.content.decode()
    assert not User.objects.filter(pk__in=[p.pk for p in waiting], approved_at__isnull=True).exists()
    assert "Nobody is waiting for approval." in index_lines(staff)["approvals"]


def test_the_checklist_is_on_the_site_index_only_not_on_each_apps_page(staff: Client) -> None:
    assert 'id="setup-checklist"' in staff.get("/admin/").content.decode()
    for app in ("connectivity", "litellm", "librechat", "accounts"):
        page = staff.get(f"/admin/{app}/")
        assert page.status_code == 200
        assert 'id="setup-checklist"' not in page.content.decode(), app
