"""A first start checks only what is configured: the seeded checks are presets an operator
enables, and the servers `bootstrap` creates from the environment bring their health checks.

The test database is a fresh `migrate`; `bootstrap` is the command `make run` and compose run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from portal.connectivity import checks, workers
from portal.connectivity.models import Alert, CheckResult, Network, State, Target, TargetNetwork
from portal.connectivity.server_checks import ConfiguredCheck, configured_check_sync, health_address
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db

MASTER = "sk-first-start-master-0123456789abcdef"
VENDOR_VARIABLES = (
    "LITELLM_API_URL",
    "LITELLM_MASTER_KEY",
    "LITELLM_NETWORK",
    "LIBRECHAT_API_URL",
    "LIBRECHAT_PUBLIC_URL",
    "LIBRECHAT_NETWORK",
)
SEEDED_ADDRESSES = {
    "http://litellm:4000/health/liveliness",
    "http://litellm:4000/health/readiness",
    "http://librechat-api:3080/health",
    "http://host.docker.internal:11434/api/tags",
    "postgres://postgres:5432",
    "redis://redis:6379",
}


@pytest.fixture
def vendors() -> Iterator[tuple[LiteLLMSimulator, LibreChatSimulator]]:
    litellm = LiteLLMSimulator(master_key=MASTER, seed=5).start()
    try:
        with LibreChatSimulator() as librechat:
            yield litellm, librechat
    finally:
        litellm.stop()


def bootstrap(monkeypatch: pytest.MonkeyPatch, **environ: str) -> str:
    for name in VENDOR_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def sweep_every_network() -> None:
    """What beat fires in the first minute: each network's sweep, then the workers check."""
    for network in Network.objects.all():
        checks.network_sweep(network=network, hostname="first-start@test")
    workers.network_workers_check()


def test_a_fresh_install_without_vendors_checks_nothing_and_raises_no_alert(
    monkeypatch: pytest.MonkeyPatch, admin_client: Client
) -> None:
    bootstrap(monkeypatch)

    assert not Target.objects.filter(enabled=True).exists()
    # The seeded stack is still there, off, for an operator to enable what exists.
    assert set(Target.objects.filter(enabled=False).values_list("address", flat=True)) == SEEDED_ADDRESSES
    sweep_every_network()
    assert not CheckResult.objects.exists()
    assert not Alert.objects.exists()
    # The empty dashboard says where the presets are.
    page = admin_client.get(reverse("admin:connectivity_dashboard")).content.decode()
    assert "No enabled targets" in page
    assert reverse("admin:connectivity_target_changelist") + "?enabled__exact=0" in page


def test_the_vendors_of_the_environment_get_exactly_their_health_checks(
    monkeypatch: pytest.MonkeyPatch, vendors: tuple[LiteLLMSimulator, LibreChatSimulator]
) -> None:
    litellm, librechat = vendors
    output = bootstrap(
        monkeypatch,
        LITELLM_API_URL=litellm.base_url + "/v1",
        LITELLM_MASTER_KEY=MASTER,
        LIBRECHAT_API_URL=librechat.base_url,
    )

    enabled = Target.objects.filter(enabled=True)
    assert sorted(enabled.values_list("address", "preset")) == sorted(
        [
            (f"{litellm.base_url}/health/liveliness", "litellm_liveliness"),
            (f"{librechat.base_url}/health", "librechat_health"),
        ]
    )
    placements = TargetNetwork.objects.filter(target__enabled=True)
    assert set(placements.values_list("network__name", flat=True)) == {"backend-dev"}
    assert all(not t.password for t in enabled)
    assert MASTER not in output

    sweep_every_network()
    assert set(placements.values_list("state", flat=True)) == {State.UP}
    assert not Alert.objects.exists()

    # A second start creates nothing, and an operator's "off" stays off.
    enabled.filter(preset="librechat_health").update(enabled=False)
    again = bootstrap(
        monkeypatch,
        LITELLM_API_URL=litellm.base_url + "/v1",
        LITELLM_MASTER_KEY=MASTER,
        LIBRECHAT_API_URL=librechat.base_url,
    )
    assert "already there" in again and "created" not in again.replace("beat entry", "")
    assert list(Target.objects.filter(enabled=True).values_list("preset", flat=True)) == [
        "litellm_liveliness"
    ]


def test_a_server_check_never_holds_the_server_url_credentials() -> None:
    address = health_address("http://ops:hunter2@[fd00::5]:4000/v1/?token=hunter2", "litellm_liveliness")
    line = configured_check_sync(
        ConfiguredCheck(
            key="litellm:99",
            name="LiteLLM gateway: /health/liveliness",
            preset="litellm_liveliness",
            address=address,
            network="backend-staging",
        )
    )

    check = Target.objects.get(name="LiteLLM gateway: /health/liveliness")
    assert check.address == "http://[fd00::5]:4000/health/liveliness"
    assert not check.password
    assert "hunter2" not in line
    # The server's network gets its row (its queue, its sweep) when it had none.
    assert list(check.placements.values_list("network__queue", flat=True)) == ["net.backend-staging"]


def test_an_existing_install_keeps_its_history_and_what_an_operator_set() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("connectivity", "0003_network_worker_location")])
    old_apps = executor.loader.project_state(("connectivity", "0003_network_worker_location")).apps
    # An admin had unticked "worker in container" for prod: that said "on the host".
    old_apps.get_model("connectivity", "Network").objects.filter(name="backend-prod").update(
        worker_in_container=False
    )
    executor.loader.build_graph()
    executor.migrate([("connectivity", "0004_network_worker_location_detected")])
    # The tables as they were then: today's models carry columns these migrations predate.
    then = executor.loader.project_state(("connectivity", "0004_network_worker_location_detected")).apps
    OldNetwork, OldTarget = (
        then.get_model("connectivity", "Network"),
        then.get_model("connectivity", "Target"),
    )
    OldCheckResult = then.get_model("connectivity", "CheckResult")
    assert dict(OldNetwork.objects.values_list("name", "worker_location")) == {
        "backend-dev": "detect",
        "backend-prod": "host",
    }
    # The install as it was: every seeded check on, one of them pointed at the real Redis.
    assert OldTarget.objects.filter(address__in=SEEDED_ADDRESSES, enabled=True).count() == 6
    OldTarget.objects.filter(address="redis://redis:6379").update(address="redis://cache:6379")
    litellm = OldTarget.objects.get(address="http://litellm:4000/health/liveliness")
    network = OldNetwork.objects.get(name="backend-dev")
    OldCheckResult.objects.create(
        target=litellm, network=network, ok=False, answered=False, checked_at="2026-11-30T10:00:00Z"
    )

    executor.loader.build_graph()
    executor.migrate([("connectivity", "0005_seeded_targets_are_presets")])

    assert set(OldTarget.objects.filter(enabled=True).values_list("address", flat=True)) == {
        "redis://cache:6379"
    }
    assert OldCheckResult.objects.filter(target=litellm).count() == 1
    assert OldTarget.objects.get(pk=litellm.pk).placements.count() == 2
