"""A key the portal hands on itself (hand_over=True): its rotation waits after the swap until
the new key was handed on, both keys working meanwhile; then the old key goes."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from integrations.litellm import key_work, keys, limits, rotation, sync
from integrations.litellm.client import hash_token
from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from tests.litellm.conftest import stored_key
from tests.litellm.test_key_actions import apply, chat
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_key(server: LiteLLMServer, sim: LiteLLMSimulator) -> tuple[VirtualKey, str]:
    created = keys.key_create(
        server=server,
        alias="portal-person-7",
        limits=limits.KeyLimits(max_budget=Decimal("10")),
        metadata={"portal_person_id": 7},
        keep_secret=True,
        hand_over=True,
        enqueue=False,
    )
    key_work.key_apply_pending(key_id=created.pk)
    created.refresh_from_db()
    assert created.status == KeyStatus.ACTIVE and created.handed_on is True
    assert created.raw_key is not None
    return created, created.raw_key.reveal()


def rotate_to_handover(key: VirtualKey) -> key_work.ActionOutcome:
    keys.key_rotate(key=key, enqueue=False)
    return apply(key)


def test_the_rotation_stops_at_the_handover_with_both_keys_working(
    handed_key: tuple[VirtualKey, str], sim: LiteLLMSimulator
) -> None:
    key, old_raw = handed_key
    old_hash = key.token_hash
    outcome = rotate_to_handover(key)
    assert outcome.ok is None and outcome.detail == "waiting for the new key to be handed over"
    assert outcome.as_result() == {
        "key_id": key.pk,
        "action": "rotate",
        "ok": None,
        "detail": "waiting for the new key to be handed over",
    }
    assert key.rotation_step == "handover" and key.pending_action == "" and key.next_attempt_at is None
    assert key.last_action == "rotate" and key.last_action_ok is None
    assert key.last_action_detail == "waiting for the new key to be handed over"
    assert key.token_hash != old_hash and key.rotation_old_hash == old_hash
    assert key.raw_key is not None and hash_token(key.raw_key.reveal()) == key.token_hash
    assert chat(sim, old_raw) == 200 and chat(sim, key.raw_key.reveal()) == 200
    assert list(rotation.keys_waiting_for_handover()) == [key]
    assert keys.key_revealable(key) is False and keys.key_reveal(key=key) is None
    # The beat has nothing to hand out, and a re-run does not move past the hand-over.
    assert key_work.keys_due() == []
    with pytest.raises(ValueError, match="handed over"):
        keys.key_block(key=key, enqueue=False)


def test_after_the_handover_the_old_key_goes_and_the_new_one_takes_the_alias(
    handed_key: tuple[VirtualKey, str], sim: LiteLLMSimulator, django_capture_on_commit_callbacks
) -> None:
    key, old_raw = handed_key
    old_hash = key.token_hash
    rotate_to_handover(key)
    with django_capture_on_commit_callbacks() as callbacks:
        rotation.rotation_handed_over(key_id=key.pk)
    assert len(callbacks) == 1  # a worker is woken for the rest of the rotation
    key.refresh_from_db()
    assert key.rotation_step == "settle" and key.pending_action == "rotate"
    outcome = apply(key)
    assert outcome.ok is True, outcome.detail
    assert key.rotation_step == "" and key.rotation_old_hash == "" and key.rotated_at is not None
    assert sim.get_key(old_hash or "") is None and chat(sim, old_raw) != 200
    assert stored_key(sim, key.token_hash)["key_alias"] == "portal-person-7" and sim.key_count() == 1
    assert list(rotation.keys_waiting_for_handover()) == []
    with pytest.raises(ValueError, match="not waiting"):
        rotation.rotation_handed_over(key_id=key.pk)


def test_a_sync_during_the_handover_adopts_nothing_and_keeps_the_alias(
    handed_key: tuple[VirtualKey, str], server: LiteLLMServer, sim: LiteLLMSimulator
) -> None:
    key, _ = handed_key
    rotate_to_handover(key)
    report = sync.keys_sync(server=server)
    assert report.adopted == 0 and report.missing == 0
    key.refresh_from_db()
    assert key.key_alias == "portal-person-7" and key.rotation_step == "handover"
    assert VirtualKey.objects.count() == 1


def test_deleting_a_key_waiting_for_its_handover_deletes_both_keys(
    handed_key: tuple[VirtualKey, str], sim: LiteLLMSimulator
) -> None:
    key, _ = handed_key
    rotate_to_handover(key)
    keys.key_delete(key=key, enqueue=False)
    assert apply(key).ok is True
    assert key.status == KeyStatus.DELETED and key.rotation_step == "" and sim.key_count() == 0


def test_a_staff_key_rotates_straight_through(server: LiteLLMServer, sim: LiteLLMSimulator) -> None:
    key = keys.key_create(server=server, alias="ci", keep_secret=True, enqueue=False)
    key_work.key_apply_pending(key_id=key.pk)
    key.refresh_from_db()
    assert key.handed_on is False
    keys.key_rotate(key=key, enqueue=False)
    assert apply(key).ok is True and key.rotation_step == "" and sim.key_count() == 1


def test_the_migration_marks_the_existing_keys_of_a_person_as_handed_on(server: LiteLLMServer) -> None:
    person = VirtualKey.objects.create(server=server, metadata={"portal_person_id": 3}, keep_secret=True)
    staff = VirtualKey.objects.create(server=server, metadata={}, keep_secret=True, token_hash="b" * 64)
    forgotten = VirtualKey.objects.create(
        server=server, metadata={"portal_person_id": 4}, token_hash="c" * 64
    )
    migration = importlib.import_module("integrations.litellm.migrations.0005_virtualkey_handed_on")
    migration.mark_handed_on(apps, None)
    handed = dict(VirtualKey.objects.values_list("pk", "handed_on"))
    assert handed == {person.pk: True, staff.pk: False, forgotten.pk: False}
