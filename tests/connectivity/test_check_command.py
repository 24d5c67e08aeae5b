"""`manage.py connectivity_check <target>`: a check now from each network the target is placed
on, by that network's worker (waited for as the admin's "Check now" waits) or, with `--here`,
by this process with its own facts. Real sockets, real Redis broker; no worker in the
no-worker case, so the command must say so within seconds and name `--here`."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from portal.celery import app
from portal.connectivity.models import CheckResult, Network
from portal.core.queues import network_queue_name
from tests.connectivity.factories import make_network, make_target
from tests.lab_server import LabHTTPServer


def check_command(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("connectivity_check", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def _purge(queue: str) -> None:
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        channel.queue_purge(queue)


@pytest.fixture
def empty_queue() -> Iterator[Callable[[str], None]]:
    """Purge a network's queue before and after: a check left queued by the no-worker test
    would otherwise run in a later test's worker."""
    queues: list[str] = []

    def purge(network: str) -> None:
        queues.append(network_queue_name(network))
        _purge(queues[-1])

    yield purge
    for queue in queues:
        _purge(queue)


@pytest.mark.django_db
def test_here_checks_from_this_process_and_records_the_result(
    http_server: Callable[..., LabHTTPServer],
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network("lab-command-up")
    target = make_target(f"http://127.0.0.1:{server.port}/health", network, name="lab up", keyword="OK")
    out, err, error = check_command("lab up", "--here")
    assert error is None, err
    assert out.startswith("lab-command-up: ok"), out
    assert CheckResult.objects.filter(target=target, network=network, ok=True).count() == 1


@pytest.mark.django_db
def test_here_names_the_failure_and_its_fix_and_exits_non_zero(refused_port: int) -> None:
    network = make_network("lab-command-down")
    make_target(f"http://127.0.0.1:{refused_port}/health", network, name="lab down")
    out, err, error = check_command("lab down", "--here")
    assert error is not None and "1 check(s) of lab down failed" in str(error)
    assert "lab-command-down: FAILED" in err, err
    assert f"Nothing on this host listens on 127.0.0.1:{refused_port}" in err  # the diagnosis
    assert f"ss -ltnp | grep :{refused_port}" in err  # and its fix
    assert out == ""


@pytest.mark.django_db
def test_with_no_worker_it_says_so_within_seconds_and_names_here(
    http_server: Callable[..., LabHTTPServer], empty_queue: Callable[[str], None]
) -> None:
    server = http_server({"/health": (200, "OK")})
    network = make_network("lab-command-nobody")
    empty_queue(network.name)
    make_target(f"http://127.0.0.1:{server.port}/health", network, name="lab nobody")
    started = time.monotonic()
    _, err, error = check_command("lab nobody", "--pickup", "1")
    elapsed = time.monotonic() - started
    assert error is not None and "did not finish" in str(error)
    assert elapsed < 8, f"took {elapsed:.1f} s"
    assert "connectivity_check --here" in err and "lab-command-nobody" in err, err


@pytest.mark.django_db
def test_an_unknown_target_or_network_is_a_sentence() -> None:
    network = make_network("lab-command-known")
    make_target("http://127.0.0.1:9/health", network, name="lab known")
    _, _, error = check_command("no such target", "--here")
    assert error is not None and "no connectivity target named 'no such target'" in str(error)
    _, _, error = check_command("lab known", "--network", "backend-nowhere", "--here")
    assert error is not None and "lab known is not placed on backend-nowhere" in str(error)


def test_by_default_the_network_worker_checks_and_the_command_waits_for_it(
    start_worker: Callable[[], Any], http_server: Callable[..., LabHTTPServer]
) -> None:
    server = http_server({"/health": (200, "OK")})
    # backend-dev: a queue the suite's worker consumes (the seeded row, unless an earlier
    # transactional test flushed it), on the host and guessing nothing.
    network, _ = Network.objects.update_or_create(
        name="backend-dev", defaults={"worker_location": "host", "guess_alternatives": False}
    )
    target = make_target(
        f"http://127.0.0.1:{server.port}/health", network, name="lab by worker", keyword="OK"
    )
    start_worker()
    out, err, error = check_command("lab by worker", "--pickup", "20")
    assert error is None, err
    assert out.startswith("backend-dev: ok"), out
    assert CheckResult.objects.filter(target=target, network=network, ok=True).count() == 1
