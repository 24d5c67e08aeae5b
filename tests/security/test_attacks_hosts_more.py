"""Issue #11, item 2 ("secrets go only to the host they were entered for"): what the first pass left open.

Item 2 (alternatives): probed without the target's credentials; a refused login reads "credentials not tried".
Item 2 (target address): a target's address and networks take the permission; a new origin drops its password.
Item 2 (pairing URL): the pairing's LiteLLM URL for LibreChat takes litellm.change_server_address.
Item 2 (debug pages and the CSP): under DEBUG only Django's technical pages lack the CSP (browser: tests/e2e).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import KeyPlan, LiteLLMServer
from portal.access.models import Pairing
from portal.connectivity import checks
from portal.connectivity.models import CheckResult, Target, TargetNetwork
from tests.connectivity.factories import make_network, make_target
from tests.security.recording_servers import RecordingPostgres, RecordingRedis

SECRET = "pg-and-redis-secret-0123456789"
TARGET_ADDRESS = "connectivity.change_server_address"
NO_PLACEMENTS = {"placements-TOTAL_FORMS": "0", "placements-INITIAL_FORMS": "0"}


@pytest.fixture
def recording_postgres() -> Iterator[RecordingPostgres]:
    server = RecordingPostgres()
    yield server
    server.stop()


@pytest.fixture
def recording_redis() -> Iterator[RecordingRedis]:
    server = RecordingRedis()
    yield server
    server.stop()


# --- Item 2 (alternatives) ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_failing_targets_password_never_goes_to_an_alternative_host(
    kind: str, db: None, recording_postgres: RecordingPostgres, recording_redis: RecordingRedis
) -> None:
    attacker = recording_postgres if kind == "postgres" else recording_redis
    # The target's own host refuses (nobody listens on 127.0.0.2); 127.0.0.1 is the other host
    # tried, where the attacker listens on the same port.
    network = make_network(alternative_hosts="127.0.0.1")
    database = "portal" if kind == "postgres" else "0"
    target = make_target(f"{kind}://portal@127.0.0.2:{attacker.port}/{database}", network, password=SECRET)

    report = checks.target_check_now(target=target, network=network)

    assert attacker.received, "the alternative was probed"
    assert not attacker.sent(SECRET)
    assert not report.ok
    [tried] = CheckResult.objects.get(target=target).alternatives
    assert tried["address"] == f"{kind}://127.0.0.1:{attacker.port}/{database}"
    assert tried["ok"] and "answers, credentials not tried" in tried["detail"]
    assert TargetNetwork.objects.get(target=target).last_working_address == tried["address"]
    assert f"{tried['address']} answers (credentials not tried)" in report.fix


# --- Item 2 (target address) ----------------------------------------------------------------------


def target_form(target: Target, **changes: str) -> dict[str, str]:
    return {
        "name": target.name,
        "address": target.address,
        "preset": "",
        "expected_status": "",
        "keyword": "",
        "service_names": "",
        "timeout_seconds": "2",
        "interval_seconds": "60",
        "failure_threshold": "2",
        "enabled": "on",
        "new_password": "",
        **NO_PLACEMENTS,
        **changes,
    }


@pytest.fixture
def guarded_target(db: None) -> Target:
    return make_target("postgres://portal@db.internal:5432/portal", password=SECRET)


def test_staff_without_the_address_permission_cannot_move_a_target_or_add_one(
    staff_with: Callable[..., Client], guarded_target: Target, recording_postgres: RecordingPostgres
) -> None:
    staff = staff_with("connectivity.view_target", "connectivity.change_target", "connectivity.add_target")
    change = reverse("admin:connectivity_target_change", args=[guarded_target.pk])
    assert 'name="address"' not in staff.get(change).content.decode()

    moved = f"postgres://portal@127.0.0.1:{recording_postgres.port}/portal"
    response = staff.post(change, target_form(guarded_target, address=moved, timeout_seconds="3"))

    assert response.status_code == 302
    guarded_target.refresh_from_db()
    assert guarded_target.address == "postgres://portal@db.internal:5432/portal"
    assert guarded_target.timeout_seconds == 3.0  # the rest of the form still saves
    assert guarded_target.password.reveal() == SECRET
    assert staff.get(reverse("admin:connectivity_target_add")).status_code == 403


def test_staff_without_the_address_permission_cannot_check_a_target_from_another_network(
    staff_with: Callable[..., Client], guarded_target: Target
) -> None:
    # `db.internal` on another Docker network may be another machine: the password stays home.
    home, other, third = make_network(), make_network(), make_network()
    kept = TargetNetwork.objects.create(target=guarded_target, network=home)
    staff = staff_with(
        "connectivity.view_target",
        "connectivity.change_target",
        "connectivity.add_targetnetwork",
        "connectivity.change_targetnetwork",
    )
    change = reverse("admin:connectivity_target_change", args=[guarded_target.pk])
    placements = {
        "placements-TOTAL_FORMS": "2",
        "placements-INITIAL_FORMS": "1",
        "placements-0-id": str(kept.pk),
        "placements-0-target": str(guarded_target.pk),
        "placements-0-network": str(other.pk),
        "placements-0-expect": "reachable",
        "placements-1-target": str(guarded_target.pk),
        "placements-1-network": str(third.pk),
        "placements-1-expect": "reachable",
    }

    response = staff.post(change, {**target_form(guarded_target), **placements})

    assert response.status_code == 302
    assert list(guarded_target.placements.values_list("network", flat=True)) == [home.pk]


def test_a_moved_target_asks_for_its_password_again_and_never_sends_the_old_one(
    staff_with: Callable[..., Client], guarded_target: Target, recording_postgres: RecordingPostgres
) -> None:
    staff = staff_with("connectivity.view_target", "connectivity.change_target", TARGET_ADDRESS)
    change = reverse("admin:connectivity_target_change", args=[guarded_target.pk])
    moved = f"postgres://portal@127.0.0.1:{recording_postgres.port}/portal"

    refused = staff.post(change, target_form(guarded_target, address=moved))
    assert refused.status_code == 200
    assert "enter the password for the new address" in refused.content.decode()
    guarded_target.refresh_from_db()
    assert guarded_target.address.endswith("@db.internal:5432/portal")

    # A path (the database) is not an address: the password stays.
    staff.post(change, target_form(guarded_target, address="postgres://portal@db.internal:5432/other"))
    guarded_target.refresh_from_db()
    assert guarded_target.address.endswith("/other") and guarded_target.password.reveal() == SECRET

    staff.post(change, target_form(guarded_target, address=moved, clear_password="on"))
    guarded_target.refresh_from_db()
    assert guarded_target.address == moved and guarded_target.password is None

    network = make_network()
    TargetNetwork.objects.create(target=guarded_target, network=network)
    checks.target_check_now(target=guarded_target, network=network)
    assert recording_postgres.received and not recording_postgres.sent(SECRET)


def test_a_moved_target_keeps_a_password_entered_with_the_new_address(
    staff_with: Callable[..., Client], guarded_target: Target
) -> None:
    staff = staff_with("connectivity.view_target", "connectivity.change_target", TARGET_ADDRESS)
    change = reverse("admin:connectivity_target_change", args=[guarded_target.pk])

    staff.post(change, target_form(guarded_target, address="redis://cache.internal:6379", new_password="n3w"))

    guarded_target.refresh_from_db()
    assert (
        guarded_target.address == "redis://cache.internal:6379" and guarded_target.password.reveal() == "n3w"
    )


# --- Item 2 (pairing URL) -------------------------------------------------------------------------


@pytest.fixture
def pairing(db: None) -> Pairing:
    chat = LibreChatServer.objects.create(
        name="chat", api_url="http://127.0.0.1:9", public_url="https://chat.example.com"
    )
    litellm = LiteLLMServer(name="gateway", base_url="http://127.0.0.1:9", network="backend-dev")
    litellm.master_key = "sk-master-of-the-pairing-test-0123456789"
    litellm.save()
    plan = KeyPlan.objects.create(name="standard")
    return Pairing.objects.create(
        librechat_server=chat,
        litellm_server=litellm,
        default_plan=plan,
        litellm_url_for_librechat="http://litellm:4000",
    )


def pairing_form(pairing: Pairing, **changes: str) -> dict[str, object]:
    return {
        "librechat_server": pairing.librechat_server_id,
        "litellm_server": pairing.litellm_server_id,
        "endpoint_name": pairing.endpoint_name,
        "default_plan": pairing.default_plan_id,
        "litellm_url_for_librechat": pairing.litellm_url_for_librechat,
        **changes,
    }


def test_staff_without_the_address_permission_cannot_point_librechat_at_their_own_litellm(
    staff_with: Callable[..., Client], pairing: Pairing
) -> None:
    staff = staff_with("access.view_pairing", "access.change_pairing")
    change = reverse("admin:access_pairing_change", args=[pairing.pk])
    assert 'name="litellm_url_for_librechat"' not in staff.get(change).content.decode()

    response = staff.post(
        change,
        pairing_form(pairing, litellm_url_for_librechat="http://attacker.example:4000", endpoint_name="AI"),
    )

    assert response.status_code == 302
    pairing.refresh_from_db()
    assert pairing.litellm_url_for_librechat == "http://litellm:4000" and pairing.endpoint_name == "AI"


def test_staff_with_the_litellm_address_permission_may_change_the_pairings_url(
    staff_with: Callable[..., Client], pairing: Pairing
) -> None:
    staff = staff_with("access.view_pairing", "access.change_pairing", "litellm.change_server_address")
    change = reverse("admin:access_pairing_change", args=[pairing.pk])

    staff.post(change, pairing_form(pairing, litellm_url_for_librechat="http://litellm-2:4000"))

    pairing.refresh_from_db()
    assert pairing.litellm_url_for_librechat == "http://litellm-2:4000"


# --- Item 2 (debug pages and the CSP) -------------------------------------------------------------


@pytest.mark.urls("tests.security.debug_urls")
def test_with_debug_on_only_djangos_technical_pages_go_without_the_csp(db: None, settings: Any) -> None:
    client = Client(raise_request_exception=False)
    policy = client.get(reverse("accounts:signup"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy

    settings.DEBUG = True
    technical_404 = client.get("/no-such-page/")
    technical_500 = client.get("/boom/")
    assert technical_404.status_code == 404 and "DEBUG = True" in technical_404.content.decode()
    assert technical_500.status_code == 500 and "RuntimeError" in technical_500.content.decode()
    # A SuspiciousOperation under DEBUG is the technical 500 page with a 400 (django-csp styled it not).
    technical_400 = client.get("/", HTTP_HOST="attacker.example")
    assert technical_400.status_code == 400 and "DisallowedHost" in technical_400.content.decode()
    for technical in (technical_404, technical_500, technical_400):
        assert "Content-Security-Policy" not in technical
    for own in ("/own-not-found/", "/own-server-error/", reverse("accounts:signup")):
        assert client.get(own).get("Content-Security-Policy") == policy, own

    settings.DEBUG = False  # production: every answer carries the policy, as before
    for path in ("/no-such-page/", "/boom/", "/own-not-found/", "/own-server-error/"):
        assert client.get(path).get("Content-Security-Policy") == policy, path
