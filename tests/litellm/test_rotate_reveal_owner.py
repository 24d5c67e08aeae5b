"""A rotation's new key is revealed once, to the staff member who rotated it: that is so from
the moment the work is sent, not only once the admin's request hears back from the worker
(in between, whoever created the key could have taken the new key's one reveal)."""

from __future__ import annotations

import threading
import time

from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from integrations.litellm import key_work, keys
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.simulators.litellm import LiteLLMSimulator
from tests.workers import CeleryWorker


@override_settings(LITELLM_ADMIN_WAIT_SECONDS=15)
def test_the_new_keys_reveal_is_the_rotators_while_the_rotation_runs(
    tx_server: LiteLLMServer, sim: LiteLLMSimulator, net_worker: CeleryWorker
) -> None:
    creator = User.objects.create_superuser(email="creator@example.com", password="a long test password")
    rotator = User.objects.create_superuser(email="rotator@example.com", password="a long test password")
    key = keys.key_create(server=tx_server, alias="shared", reveal_to=creator, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    sim.set_faults(latency=1.0)  # the worker's rotation takes a while: the window looked at

    def rotate() -> None:
        client = Client()
        client.force_login(rotator)
        chosen = {"action": "rotate_action", "_selected_action": [key.pk], "post": "yes"}
        try:
            client.post(reverse("admin:litellm_virtualkey_changelist"), chosen)
        finally:
            connection.close()

    request = threading.Thread(target=rotate)
    request.start()
    try:
        deadline = time.monotonic() + 10
        while VirtualKey.objects.get(pk=key.pk).pending_action != "rotate":
            assert time.monotonic() < deadline, "the rotation was never recorded"
            time.sleep(0.05)
        time.sleep(0.3)  # the request has sent the work and waits for the worker
        row = VirtualKey.objects.get(pk=key.pk)
        assert request.is_alive() and row.pending_action == "rotate"  # still within the window
        assert row.reveal_to_id == rotator.pk
    finally:
        sim.set_faults(latency=0.0)
        request.join(20)
    assert VirtualKey.objects.get(pk=key.pk).reveal_to_id == rotator.pk
