"""Two stores of one server's models at once (two first syncs overlapping): no IntegrityError,
one row per model."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections
from django.utils import timezone

from integrations.litellm import servers
from integrations.litellm.models import LiteLLMModel, LiteLLMServer
from tests.simulators.litellm import LiteLLMSimulator


def _two_stores_at_once(server_pk: int, deployments: list[Any]) -> tuple[list[BaseException], list[Any]]:
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    results: list[tuple[int, int, int]] = []

    def run() -> None:
        try:
            row = LiteLLMServer.objects.get(pk=server_pk)
            start.wait()
            results.append(servers.models_store(server=row, deployments=deployments, now=timezone.now()))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors, results


def test_two_first_stores_at_once_make_one_row_per_model(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    deployments = servers.client_for(tx_server).model_info()
    assert len(deployments) >= 2
    # A few rounds from an empty list: each round is a fresh "first sync" race.
    for _ in range(5):
        LiteLLMModel.objects.filter(server=tx_server).delete()
        errors, results = _two_stores_at_once(tx_server.pk, deployments)
        assert errors == []
        ids = sorted(LiteLLMModel.objects.filter(server=tx_server).values_list("model_id", flat=True))
        assert ids == sorted(d.model_id for d in deployments)
        # one store added them all, the other found and updated them
        assert sorted(results) == sorted([(len(deployments), 0, 0), (0, len(deployments), 0)])
