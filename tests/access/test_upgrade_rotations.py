"""A rotation begun before the one rotation engine (its replacement in PersonalKey.next_key)
is carried over by access migration 0003: past the push the replacement becomes the key and
gets its stable alias; before the push the rotation starts again with the old key, which
kept working. No row is left naming a key the new steps cannot handle."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import KeyPlan, KeyStatus, LiteLLMServer, VirtualKey
from portal.access.models import PersonalKey
from portal.accounts.models import User

BEFORE = [("access", "0002_content_types_and_beat_tasks")]


def _migrate(targets: list[tuple[str, str]] | None = None) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    return executor


def _key(server: LiteLLMServer, alias: str, token: str) -> VirtualKey:
    return VirtualKey.objects.create(
        server=server, key_alias=alias, token_hash=token, status=KeyStatus.ACTIVE, keep_secret=True
    )


@pytest.mark.django_db(transaction=True)
def test_rotations_in_flight_are_carried_over_to_the_one_engine() -> None:
    executor = _migrate(BEFORE)
    try:
        old_apps = executor.loader.project_state(BEFORE).apps
        OldPairing = old_apps.get_model("access", "Pairing")
        OldKey = old_apps.get_model("access", "PersonalKey")
        chat = LibreChatServer.objects.create(name="chat", api_url="http://chat.test", network="n1")
        gateway = LiteLLMServer(name="gateway", base_url="http://gateway.test", network="n1")
        gateway.master_key = "sk-master-0123456789"
        gateway.save()
        plan = KeyPlan.objects.create(name="plan")
        pairing = OldPairing.objects.create(
            librechat_server_id=chat.pk,
            litellm_server_id=gateway.pk,
            default_plan_id=plan.pk,
            endpoint_name="E",
        )
        ids = {}
        for name, step in (("late", "rotate_delete_old"), ("early", "rotate_push"), ("idle", "")):
            person = User.objects.create_user(f"{name}@example.com", "a long portal passphrase 9")
            old = _key(gateway, f"portal-person-{person.pk}", f"{name}-old")
            new = _key(gateway, f"portal-person-{person.pk}.rotating.20261201", f"{name}-new")
            record = OldKey.objects.create(
                person_id=person.pk,
                pairing_id=pairing.pk,
                plan_id=plan.pk,
                key_id=old.pk,
                next_key_id=new.pk if step else None,
                step=step,
                status="ready",
            )
            ids[name] = (record.pk, old.pk, new.pk)
    finally:
        _migrate()

    late = PersonalKey.objects.get(pk=ids["late"][0])
    # LibreChat holds the replacement: it is the key now, and the new steps rename it.
    assert late.key_id == ids["late"][2] and late.step == "rotate_rename" and late.next_attempt_at
    early = PersonalKey.objects.get(pk=ids["early"][0])
    # Before the push: the old key (still working, still in LibreChat) stays; rotation again.
    assert early.key_id == ids["early"][1] and early.step == "" and early.rotation_requested_at
    idle = PersonalKey.objects.get(pk=ids["idle"][0])
    assert idle.key_id == ids["idle"][1] and idle.step == "" and idle.rotation_requested_at is None
    assert "next_key" not in {f.name for f in PersonalKey._meta.get_fields()}
