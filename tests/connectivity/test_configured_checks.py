"""Checks from what is configured: every LiteLLM and LibreChat server row, and every pairing's
baseURL, is checked from the right network without anyone adding a target; the check follows
its row when the row is added, changed or removed, carries no secret, and an operator's edit
of it stands."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import KeyPlan, LiteLLMServer
from portal.access.models import Pairing
from portal.connectivity import checks
from portal.connectivity.models import CheckResult, Network, State, Target, TargetNetwork
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db

MASTER = "sk-configured-master-0123456789abcdef"


def litellm_server(base_url: str = "http://litellm-prod:4000/v1", network: str = "net-a") -> LiteLLMServer:
    server = LiteLLMServer(name="gateway", base_url=base_url, network=network)
    server.master_key = MASTER
    server.save()
    return server


def chat_server(api_url: str = "http://librechat-api:3080", network: str = "net-b") -> LibreChatServer:
    return LibreChatServer.objects.create(name="chat", api_url=api_url, network=network)


def pair(chat: LibreChatServer, litellm: LiteLLMServer, url: str = "") -> Pairing:
    plan = KeyPlan.objects.create(name=f"plan-{chat.pk}")
    return Pairing.objects.create(
        librechat_server=chat, litellm_server=litellm, default_plan=plan, litellm_url_for_librechat=url
    )


def check_of(key: str) -> Target:
    return Target.objects.get(configured_by=key)


def networks_of(target: Target) -> list[str]:
    return sorted(target.placements.values_list("network__name", flat=True))


def test_a_litellm_server_added_is_checked_on_its_network_without_a_secret() -> None:
    server = litellm_server("http://ops:hunter2@litellm-prod:4000/v1/?token=hunter2")

    check = check_of(f"litellm:{server.pk}")
    assert check.name == "LiteLLM gateway: /health/liveliness"
    assert check.address == "http://litellm-prod:4000/health/liveliness"
    assert (check.preset, check.keyword, check.enabled) == ("litellm_liveliness", "alive", True)
    assert "hunter2" not in check.address and not check.password and MASTER not in str(check.configured_as)
    assert networks_of(check) == ["net-a"]
    # The server's network gets its row (its queue, its sweep) when it had none.
    assert Network.objects.get(name="net-a").queue == "net.net-a"


def test_the_check_follows_the_servers_address_and_network_and_keeps_its_history() -> None:
    server = litellm_server()
    check = check_of(f"litellm:{server.pk}")
    old_placement = TargetNetwork.objects.get(target=check)
    TargetNetwork.objects.filter(pk=old_placement.pk).update(state=State.DOWN, consecutive_failures=3)
    CheckResult.objects.create(
        target=check,
        network=old_placement.network,
        ok=False,
        answered=False,
        checked_at="2026-12-01T10:00:00Z",
    )

    server.base_url = "https://gateway.internal:4443"
    server.save()
    check.refresh_from_db()
    assert check.address == "https://gateway.internal:4443/health/liveliness"
    placement = TargetNetwork.objects.get(target=check)
    assert (placement.state, placement.consecutive_failures, placement.next_check_at) == (
        State.UNKNOWN,
        0,
        None,
    )

    server.network = "net-c"
    server.save()
    assert networks_of(check) == ["net-c"]
    assert CheckResult.objects.filter(target=check).count() == 1  # what was seen from net-a stays

    server.delete()
    assert not Target.objects.filter(pk=check.pk).exists()


def test_an_operators_edit_of_an_auto_made_check_stands() -> None:
    server = litellm_server()
    check = check_of(f"litellm:{server.pk}")
    check.enabled = False
    check.interval_seconds = 300
    check.address = "http://litellm-prod:4000/health/liveliness?probe=1"
    check.save()
    TargetNetwork.objects.create(target=check, network=Network.objects.create(name="net-isolated"))

    server.name = "gateway-renamed"  # the address did not move: the operator's address stands
    server.save()
    check.refresh_from_db()
    assert check.address == "http://litellm-prod:4000/health/liveliness?probe=1"
    assert check.name == "LiteLLM gateway-renamed: /health/liveliness"

    server.network = "net-c"
    server.base_url = "http://litellm-next:4000"
    server.save()
    check.refresh_from_db()
    assert (check.enabled, check.interval_seconds) == (False, 300)
    assert check.address == "http://litellm-next:4000/health/liveliness"  # the server moved: it follows
    assert networks_of(check) == ["net-c", "net-isolated"]  # the operator's extra placement stays


def test_a_status_save_of_the_server_touches_no_check() -> None:
    server = litellm_server()
    check = check_of(f"litellm:{server.pk}")
    Target.objects.filter(pk=check.pk).update(configured_as={})  # would be re-applied on a sync
    server.check_diagnosis = "Connection successful"
    server.save(update_fields=["check_diagnosis"])
    assert check_of(f"litellm:{server.pk}").configured_as == {}


def test_a_librechat_server_is_checked_and_followed_the_same_way() -> None:
    chat = chat_server()
    check = check_of(f"librechat:{chat.pk}")
    assert (check.address, check.keyword, networks_of(check)) == (
        "http://librechat-api:3080/health",
        "OK",
        ["net-b"],
    )
    chat.api_url = "http://librechat:3080"
    chat.network = "net-c"
    chat.save()
    check.refresh_from_db()
    assert (check.address, networks_of(check)) == ("http://librechat:3080/health", ["net-c"])
    chat.delete()
    assert not Target.objects.filter(configured_by__startswith="librechat:").exists()


def test_a_pairing_checks_litellm_at_its_base_url_from_librechats_network() -> None:
    litellm = litellm_server(network="net-a")
    chat = chat_server(network="net-b")
    pairing = pair(chat, litellm, url="http://user:pw@litellm:4000/v1")

    check = check_of(f"pairing:{pairing.pk}")
    assert check.name == "LiteLLM for LibreChat chat: /health/liveliness"
    assert check.address == "http://litellm:4000/health/liveliness" and "pw" not in check.address
    assert networks_of(check) == ["net-b"]

    pairing.litellm_url_for_librechat = ""  # empty: the LiteLLM server's own URL
    pairing.save()
    check.refresh_from_db()
    assert check.address == "http://litellm-prod:4000/health/liveliness"

    litellm.base_url = "http://litellm-moved:4000"
    litellm.save()
    check.refresh_from_db()
    assert check.address == "http://litellm-moved:4000/health/liveliness"

    chat.network = "net-c"
    chat.save()
    assert networks_of(check) == ["net-c"]

    pairing.delete()
    assert not Target.objects.filter(configured_by=f"pairing:{pairing.pk}").exists()
    assert (
        Target.objects.filter(configured_by__in=[f"litellm:{litellm.pk}", f"librechat:{chat.pk}"]).count()
        == 2
    )


def test_removing_a_librechat_server_removes_its_pairings_check_too() -> None:
    pairing = pair(chat_server(), litellm_server())
    assert Target.objects.filter(configured_by__regex=r"^(pairing|librechat):").count() == 2
    pairing.librechat_server.delete()  # the pairing goes with it (on_delete CASCADE)
    assert not Target.objects.filter(configured_by__startswith="pairing:").exists()
    assert not Target.objects.filter(configured_by__startswith="librechat:").exists()


def test_bootstrap_adopts_a_check_made_before_checks_were_tracked() -> None:
    server = litellm_server()
    Target.objects.filter(configured_by=f"litellm:{server.pk}").update(configured_by="", configured_as={})
    call_command("bootstrap", stdout=io.StringIO())
    assert Target.objects.filter(name="LiteLLM gateway: /health/liveliness").count() == 1
    assert check_of(f"litellm:{server.pk}").configured_as["network"] == "net-a"


@pytest.fixture
def vendors() -> Iterator[tuple[LiteLLMSimulator, LibreChatSimulator]]:
    litellm = LiteLLMSimulator(master_key=MASTER, seed=11).start()
    try:
        with LibreChatSimulator() as librechat:
            yield litellm, librechat
    finally:
        litellm.stop()


def test_a_sweep_checks_the_configured_servers_and_the_pairing_on_the_wire(
    vendors: tuple[LiteLLMSimulator, LibreChatSimulator],
) -> None:
    sim_litellm, sim_chat = vendors
    Network.objects.create(name="lab-configured", worker_location="host", guess_alternatives=False)
    litellm = litellm_server(sim_litellm.base_url + "/v1", network="lab-configured")
    chat = chat_server(sim_chat.base_url, network="lab-configured")
    pairing = pair(chat, litellm, url=sim_litellm.base_url)

    report = checks.network_sweep(network=Network.objects.get(name="lab-configured"))

    assert sorted(c.target for c in report.checks) == [
        "LibreChat chat: /health",
        "LiteLLM for LibreChat chat: /health/liveliness",
        "LiteLLM gateway: /health/liveliness",
    ]
    assert all(c.ok for c in report.checks), [c.summary for c in report.checks]
    keys = [f"litellm:{litellm.pk}", f"librechat:{chat.pk}", f"pairing:{pairing.pk}"]
    assert set(
        TargetNetwork.objects.filter(target__configured_by__in=keys).values_list("state", flat=True)
    ) == {State.UP}
    # Over the wire: the server's check and the pairing's, each on the keyless health path.
    assert sim_litellm.calls[("GET", "/health/liveliness")] == 2


def test_the_targets_list_and_page_say_what_a_check_follows(admin_client: Client) -> None:
    server = litellm_server()
    check = check_of(f"litellm:{server.pk}")
    listing = admin_client.get(reverse("admin:connectivity_target_changelist")).content.decode()
    assert f"LiteLLM server #{server.pk} (address and network follow it)" in listing
    page = admin_client.get(reverse("admin:connectivity_target_change", args=[check.pk])).content.decode()
    assert f"LiteLLM server #{server.pk} (address and network follow it)" in page
    assert MASTER not in listing + page
