"""The key admin end to end: a real Celery worker on the server's network queue, the
simulator as LiteLLM, the admin through Django's test client."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client, override_settings
from django.urls import reverse

from integrations.litellm import key_work, keys, sync
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyStatus, LiteLLMModel, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.litellm.conftest import stored_key
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker, wait_for


@pytest.fixture
def staff(transactional_db: None) -> Client:
    user = User.objects.create_superuser(email="ops@example.com", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def discover(server: LiteLLMServer) -> None:
    for name, model_id in (("gpt-4o-mock", "m1"), ("claude-mock", "m2")):
        LiteLLMModel.objects.create(
            server=server, model_name=name, model_id=model_id, provider_model=f"x/{name}"
        )


def add_form(server: LiteLLMServer, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "server": server.pk,
        "key_alias": "ci-bot",
        "owner": "ana",
        "allowed_models": ["gpt-4o-mock"],
        "max_budget": "10",
        "budget_duration": "30d",
        "rpm_limit": "60",
        "duration": "",
    }
    data.update(overrides)
    return data


def test_it_creates_a_key_and_shows_it_exactly_once(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    discover(tx_server)
    response = staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server))
    key = VirtualKey.objects.get()
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == reverse("admin:litellm_virtualkey_reveal", args=[key.pk])
    page = staff.get(response["Location"])
    found = re.search(rb'value="(sk-[A-Za-z0-9_-]{32,})"', page.content)
    assert found is not None
    raw = found.group(1).decode()
    assert hash_token(raw) == key.token_hash and stored_key(sim, raw)["key_alias"] == "ci-bot"
    assert "no-store" in page["Cache-Control"]
    # Afterwards only the abbreviation, anywhere in the admin.
    again = staff.get(reverse("admin:litellm_virtualkey_reveal", args=[key.pk]), follow=True)
    assert raw.encode() not in again.content and f"sk-...{raw[-4:]}".encode() in again.content
    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk]))
    listing = staff.get(reverse("admin:litellm_virtualkey_changelist"))
    assert raw.encode() not in change.content and raw.encode() not in listing.content
    history = list(LogEntry.objects.filter(object_id=str(key.pk)).values_list("change_message", flat=True))
    assert any("Create in LiteLLM" in m for m in history) and any(
        "Showed the full key once" in m for m in history
    )
    assert not any(raw in m for m in history)
    assert raw not in net_worker.log()
    key.refresh_from_db()
    assert key.raw_key is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_budget", "-1", "Max budget must be more than 0"),
        ("budget_duration", "monthly", "not a LiteLLM duration"),
        ("duration", "5 days", "not a LiteLLM duration"),
        ("rpm_limit", "0", "greater than or equal to 1"),
        ("allowed_models", ["not-a-model"], "Select a valid choice"),
        ("key_alias", "../etc", "may not contain"),
    ],
)
def test_it_shows_field_errors_never_a_500(
    staff: Client, tx_server: LiteLLMServer, field: str, value: object, words: str
) -> None:
    discover(tx_server)
    response = staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server, **{field: value}))
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not VirtualKey.objects.exists()


def test_it_refuses_a_model_of_another_server(staff: Client, tx_server: LiteLLMServer) -> None:
    discover(tx_server)
    other = LiteLLMServer(name="prod", base_url="http://litellm-prod:4000", network="backend-prod")
    other.master_key = "sk-" + "p" * 30
    other.save()
    LiteLLMModel.objects.create(server=other, model_name="prod-only", model_id="p1")
    response = staff.post(
        reverse("admin:litellm_virtualkey_add"), add_form(tx_server, allowed_models=["prod-only"])
    )
    assert (
        response.status_code == 200 and "Not a model of litellm-dev: prod-only" in response.content.decode()
    )


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=0.5)
def test_it_shows_pending_when_no_worker_answers(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    discover(tx_server)
    response = staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server), follow=True)
    key = VirtualKey.objects.get()
    assert key.status == KeyStatus.CREATING and key.pending_action == "create"
    assert "pending" in response.content.decode()
    assert sim.key_count() == 0  # nothing reached LiteLLM; the beat job will pick the row up


def test_the_actions_report_per_key_and_land_in_the_admin_log(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    made = []
    for alias in ("a", "b"):
        key = keys.key_create(server=tx_server, alias=alias, enqueue=False)
        key_work.key_apply_pending(key_id=key.pk)
        made.append(key)
    chosen = {"action": "block_action", "_selected_action": [k.pk for k in made]}
    asked = staff.post(reverse("admin:litellm_virtualkey_changelist"), chosen)
    page = asked.content.decode()
    assert asked.status_code == 200 and "Block in LiteLLM?" in page  # the confirmation first
    assert "a" in page and made[1].key_name in page and 'name="post" value="yes"' in page
    assert not any(stored_key(sim, k.token_hash)["blocked"] for k in made)  # nothing yet

    started = time.monotonic()
    response = staff.post(reverse("admin:litellm_virtualkey_changelist"), {**chosen, "post": "yes"})
    assert time.monotonic() - started < 2  # many keys: background work, the request returns at once
    progress = response["Location"]
    assert progress.startswith("/admin/progress/")
    wait_for(lambda: "All finished." in staff.get(progress + "?fragment=1").content.decode(), net_worker)
    text = staff.get(progress).content.decode()
    assert "2 of 2" in text and text.count("Blocked in LiteLLM") == 2
    assert all(stored_key(sim, k.token_hash)["blocked"] for k in made)
    assert LogEntry.objects.filter(change_message__contains="block: sent to the worker").count() == 2

    response = staff.post(
        reverse("admin:litellm_virtualkey_changelist"),
        {"action": "rotate_action", "_selected_action": [made[0].pk], "post": "yes"},
        follow=True,
    )
    assert "a: rotate: Rotated" in response.content.decode()
    made[0].refresh_from_db()
    assert stored_key(sim, made[0].token_hash)["key_alias"] == "a" and sim.key_count() == 2


def test_changing_a_key_goes_to_litellm_first(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    discover(tx_server)
    key = keys.key_create(server=tx_server, alias="edit-me", enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    url = reverse("admin:litellm_virtualkey_change", args=[key.pk])
    form = {
        "key_alias": "edit-me",
        "owner": "",
        "allowed_models": ["claude-mock"],
        "max_budget": "7.5",
        "budget_duration": "",
    }
    response = staff.post(url, form, follow=True)
    assert "Change in LiteLLM" in response.content.decode()
    stored = stored_key(sim, key.token_hash)
    assert stored["models"] == ["claude-mock"] and stored["max_budget"] == 7.5
    key.refresh_from_db()
    assert key.allowed_models == ["claude-mock"] and key.max_budget == Decimal("7.5")


def test_the_list_filters_and_searches(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    sim.seed_keys(5, key_alias="svc-{i}", user_id="team-x", max_budget=1.0, spend=2.0)
    sync.keys_sync(server=tx_server)
    url = reverse("admin:litellm_virtualkey_changelist")
    for query in (
        "?owner=team-x",
        "?expired=no",
        "?over_budget=yes",
        "?state=active",
        "?q=svc",
        f"?server__id__exact={tx_server.pk}",
    ):
        response = staff.get(url + query)
        assert response.status_code == 200, query
        assert "svc-3" in response.content.decode(), query
    assert "svc-3" not in staff.get(url + "?over_budget=no").content.decode()
    assert "svc-3" not in staff.get(url + "?owner=someone-else").content.decode()


def test_the_state_filter_reads_active_and_blocked(staff: Client, tx_server: LiteLLMServer) -> None:
    for alias, status, blocked in (
        ("on-key", KeyStatus.ACTIVE, False),
        ("off-key", KeyStatus.ACTIVE, True),
        ("gone-key", KeyStatus.DELETED, False),
    ):
        VirtualKey.objects.create(
            server=tx_server, token_hash=hash_token(alias), key_alias=alias, status=status, blocked=blocked
        )
    url = reverse("admin:litellm_virtualkey_changelist")
    response = staff.get(url)
    (spec,) = [f for f in response.context["cl"].filter_specs if f.title == "state"]
    assert [c["display"] for c in spec.choices(response.context["cl"])] == ["All", "active", "blocked"]
    assert "By blocked" not in response.content.decode()

    def listed(query: str) -> set[str]:
        page = staff.get(url + query).content.decode()
        return {alias for alias in ("on-key", "off-key", "gone-key") if alias in page}

    assert listed("?state=active") == {"on-key"}
    assert listed("?state=blocked") == {"off-key"}
    assert listed("") == {"on-key", "off-key", "gone-key"}


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=0.5)
def test_a_key_created_while_pending_can_be_revealed_once_later(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    discover(tx_server)
    staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server))
    key = VirtualKey.objects.get()
    key_work.key_apply_pending(key_id=key.pk)  # what the worker does once it is back
    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk])).content.decode()
    assert "Show the full key once" in change
    page = staff.get(reverse("admin:litellm_virtualkey_reveal", args=[key.pk]))
    assert re.search(rb'value="(sk-[A-Za-z0-9_-]{32,})"', page.content)
    change = staff.get(reverse("admin:litellm_virtualkey_change", args=[key.pk])).content.decode()
    assert "Show the full key once" not in change


def test_the_list_costs_the_same_queries_for_few_and_many_keys(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("admin:litellm_virtualkey_changelist")
    sim.seed_keys(3, max_budget=2.0)
    sync.keys_sync(server=tx_server)
    staff.get(url)
    with CaptureQueriesContext(connection) as few:
        staff.get(url)
    sim.seed_keys(120, max_budget=2.0)
    sync.keys_sync(server=tx_server)
    with CaptureQueriesContext(connection) as many:
        page = staff.get(url)
    assert len(few) == len(many)
    assert "COUNT(*)" not in " ".join(
        q["sql"].upper() for q in many.captured_queries if "PG_CLASS" not in q["sql"].upper()
    )
    assert page.status_code == 200


def test_the_list_of_pending_keys_reads_the_heartbeat_once_per_queue(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    """Keys waiting for a worker (a bulk action with none running): each row says so from its
    queue's heartbeat, read once for the page, not once per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("admin:litellm_virtualkey_changelist")
    for i in range(3):
        keys.key_create(server=tx_server, alias=f"few-{i}", enqueue=False)
    staff.get(url)
    with CaptureQueriesContext(connection) as few:
        staff.get(url)
    for i in range(20):
        keys.key_create(server=tx_server, alias=f"many-{i}", enqueue=False)
    with CaptureQueriesContext(connection) as many:
        page = staff.get(url).content.decode()
    assert page.count("no worker heard on it ever") == 23
    assert len(few) == len(many)


def test_the_change_form_shows_field_errors_and_busy_keys_never_a_500(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    discover(tx_server)
    key = keys.key_create(server=tx_server, alias="busy", enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    url = reverse("admin:litellm_virtualkey_change", args=[key.pk])
    bad = staff.post(url, {"key_alias": "busy", "max_budget": "-5", "budget_duration": "soon"})
    assert bad.status_code == 200 and "not a LiteLLM duration" in bad.content.decode()
    keys.key_block(key=key, enqueue=False)  # an action still pending
    busy = staff.post(url, {"key_alias": "busy", "max_budget": "3"}, follow=True)
    assert busy.status_code == 200 and "still busy" in busy.content.decode()
    key.refresh_from_db()
    assert key.pending_action == "block" and key.max_budget is None


def test_the_list_draws_spend_against_budget(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    sim.seed_keys(1, key_alias="spender", max_budget=10.0, spend=9.0)
    sync.keys_sync(server=tx_server)
    page = staff.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    # A <meter> (the CSP allows no inline style) filled to 9 of 10, with the figures beside it.
    assert 'max="10.0000"' in page and 'value="9.0000"' in page and "9.00 / 10.00" in page


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=0.5)
def test_only_the_creator_may_take_the_one_reveal(
    staff: Client, tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    discover(tx_server)
    staff.post(reverse("admin:litellm_virtualkey_add"), add_form(tx_server))
    key = VirtualKey.objects.get()
    key_work.key_apply_pending(key_id=key.pk)
    colleague = Client()
    colleague.force_login(User.objects.create_superuser(email="other@example.com", password="x"))

    url = reverse("admin:litellm_virtualkey_reveal", args=[key.pk])
    assert colleague.get(url).status_code == 403
    page = staff.get(url)  # still there for its creator
    assert re.search(rb'value="(sk-[A-Za-z0-9_-]{32,})"', page.content)
