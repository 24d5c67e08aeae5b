"""Networks, targets and the seed data: what the tables accept and what migrating creates."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from portal.connectivity.models import Network, Target, TargetNetwork
from portal.core.queues import all_queue_names
from tests.connectivity.factories import make_network, make_target

pytestmark = pytest.mark.django_db


def test_it_seeds_both_networks_and_the_stack_presets_by_migration() -> None:
    assert set(Network.objects.values_list("name", "queue")) >= {
        ("backend-dev", "net.backend-dev"),
        ("backend-prod", "net.backend-prod"),
    }
    addresses = set(Target.objects.values_list("address", flat=True))
    assert {
        "http://litellm:4000/health/liveliness",
        "http://litellm:4000/health/readiness",
        "http://librechat-api:3080/health",
        "http://host.docker.internal:11434/api/tags",
        "postgres://postgres:5432",
        "redis://redis:6379",
    } <= addresses
    readiness = Target.objects.get(address="http://litellm:4000/health/readiness")
    assert readiness.readiness_requires_db
    assert set(readiness.placements.values_list("network__name", flat=True)) == {
        "backend-dev",
        "backend-prod",
    }


def test_it_seeds_a_sweep_and_a_heartbeat_beat_entry_on_each_network_queue() -> None:
    for name in ("backend-dev", "backend-prod"):
        network = Network.objects.get(name=name)
        sweep = PeriodicTask.objects.get(name=f"connectivity sweep: {name}")
        assert (sweep.task, sweep.queue) == ("connectivity.network_sweep", f"net.{name}")
        assert json.loads(sweep.kwargs) == {"network_id": network.pk}
        heartbeat = PeriodicTask.objects.get(name=f"heartbeat: net.{name}")
        # The network's own heartbeat: the worker reports what it sees along with it.
        assert (heartbeat.task, heartbeat.queue) == ("connectivity.network_heartbeat", f"net.{name}")
        assert json.loads(heartbeat.kwargs) == {"network_id": network.pk}
    assert PeriodicTask.objects.get(task="connectivity.workers_check").queue == "default"
    assert PeriodicTask.objects.get(task="connectivity.results_prune").queue == "default"


def test_an_admin_set_worker_location_wins_over_what_the_process_sees() -> None:
    from portal.connectivity.checks import network_context
    from portal.connectivity.location import this_process

    detected = make_network(worker_location="detect")
    on_host = make_network(worker_location="host")
    in_container = make_network(worker_location="container")

    assert network_context(network=detected).in_container is this_process().in_container
    assert network_context(network=on_host).in_container is False
    assert network_context(network=in_container).in_container is True


def test_it_keeps_seeded_rows_editable() -> None:
    target = Target.objects.get(address="redis://redis:6379")
    target.address = "redis://cache:6379"
    target.full_clean()
    target.save()
    assert Target.objects.get(pk=target.pk).address == "redis://cache:6379"


def test_it_creates_the_beat_entries_when_a_network_row_is_created() -> None:
    network = make_network("backend-staging")

    sweep = PeriodicTask.objects.get(name="connectivity sweep: backend-staging")
    assert sweep.queue == "net.backend-staging" == network.queue
    assert sweep.interval.every == network.sweep_every_seconds
    assert PeriodicTask.objects.get(name="heartbeat: net.backend-staging").queue == "net.backend-staging"
    assert "net.backend-staging" in all_queue_names()


def test_it_moves_the_sweep_entry_when_the_network_interval_changes() -> None:
    network = make_network("backend-slower")
    network.sweep_every_seconds = 120
    network.save()
    assert PeriodicTask.objects.get(name="connectivity sweep: backend-slower").interval.every == 120


def test_it_removes_the_beat_entries_with_the_network() -> None:
    network = make_network("backend-gone")
    network.delete()
    assert not PeriodicTask.objects.filter(name__contains="backend-gone").exists()


def test_it_never_overwrites_an_edited_beat_entry_on_bootstrap() -> None:
    network = make_network("backend-edited")
    PeriodicTask.objects.filter(name="connectivity sweep: backend-edited").update(enabled=False)

    call_command("bootstrap", verbosity=0)

    assert PeriodicTask.objects.get(name="connectivity sweep: backend-edited").enabled is False
    assert PeriodicTask.objects.filter(queue=network.queue).count() == 2


def test_it_moves_a_password_typed_in_the_address_to_the_encrypted_field() -> None:
    target = make_target("redis://:s3cret-pass@redis:6379/0")

    assert target.address == "redis://redis:6379/0"
    assert target.password.reveal() == "s3cret-pass"
    stored = Target.objects.filter(pk=target.pk).values_list("password", flat=True).get()
    assert "s3cret-pass" not in stored
    assert target.probe_spec().password == "s3cret-pass"
    assert "s3cret-pass" not in target.probe_spec().target


def test_it_rejects_an_address_it_cannot_probe_with_a_clear_error() -> None:
    with pytest.raises(ValidationError) as caught:
        make_target("ftp://files:21")
    assert "unknown probe scheme" in str(caught.value)


def test_it_rejects_a_subnet_that_is_not_an_address_range() -> None:
    network = Network(name="odd", subnet="172.20.0.0/99")
    with pytest.raises(ValidationError) as caught:
        network.full_clean()
    assert "subnet" in caught.value.message_dict


def test_it_places_a_target_on_a_network_once() -> None:
    network = make_network()
    target = make_target("tcp://db:5432", network)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        TargetNetwork.objects.create(target=target, network=network)
