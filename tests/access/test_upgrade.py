"""An installed portal upgrades to the access app without loss.

A database is migrated back to the schema from before the move (the AI access models still
in portal.accounts), given rows, a staff permission, an admin history entry and a beat row
in that shape, and migrated forward: everything must still be there and still attached.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import KeyPlan, LiteLLMServer
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import User

PRE_MOVE_ACCOUNTS = ("accounts", "0004_canonical_email_addresses")
BEFORE_THE_MOVE: list[tuple[str, str | None]] = [PRE_MOVE_ACCOUNTS, ("access", None)]
MOVE_MIGRATIONS = [
    ("access", "0001_initial"),
    ("access", "0002_content_types_and_beat_tasks"),
    ("accounts", "0005_ai_access_moves_to_access"),
]


def _migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    return executor


def _rows_in_the_old_shape(executor: MigrationExecutor) -> dict[str, int]:
    """What an installed portal holds before the upgrade, written through the old app's models."""
    old = executor.loader.project_state(PRE_MOVE_ACCOUNTS).apps
    old_pairing, old_key = old.get_model("accounts", "Pairing"), old.get_model("accounts", "PersonalKey")
    chat = LibreChatServer.objects.create(name="librechat-old", api_url="http://chat.test", network="n1")
    gateway = LiteLLMServer(name="litellm-old", base_url="http://gateway.test", network="n1")
    gateway.master_key = "sk-old-master-0123456789"
    gateway.save()
    plan = KeyPlan.objects.create(name="old plan", max_budget=Decimal("5"), key_duration="30d")
    pairing = old_pairing.objects.create(
        librechat_server_id=chat.pk,
        litellm_server_id=gateway.pk,
        default_plan_id=plan.pk,
        endpoint_name="Old",
    )
    ann = User.objects.create_user("ann@example.com", "a long portal passphrase 7")
    key = old_key.objects.create(person_id=ann.pk, pairing_id=pairing.pk, plan_id=plan.pk, step="issue")

    content_type, _ = ContentType.objects.get_or_create(app_label="accounts", model="personalkey")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="change_personalkey", defaults={"name": "Can change personal key"}
    )
    staff = User.objects.create_user("staff@example.com", "a long portal passphrase 8", is_staff=True)
    staff.user_permissions.add(permission)
    entry = LogEntry.objects.create(
        user=staff,
        content_type=content_type,
        object_id=str(key.pk),
        object_repr="key of ann@example.com",
        action_flag=CHANGE,
        change_message="Changed plan.",
    )
    every_30s, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    beat = PeriodicTask.objects.create(
        name="old beat row", task="accounts.personal_keys_due", interval=every_30s
    )
    return {"pairing": pairing.pk, "key": key.pk, "staff": staff.pk, "entry": entry.pk, "beat": beat.pk}


@pytest.mark.django_db(transaction=True)
def test_it_keeps_rows_permissions_admin_history_and_beat_rows_across_the_move() -> None:
    executor = _migrate(BEFORE_THE_MOVE)
    try:
        ids = _rows_in_the_old_shape(executor)
    finally:
        _migrate()  # the database is left migrated forward, whatever happened

    pairing = Pairing.objects.get(pk=ids["pairing"])
    assert pairing.endpoint_name == "Old" and pairing.librechat_server.name == "librechat-old"
    key = PersonalKey.objects.get(pk=ids["key"])
    assert key.person.email == "ann@example.com" and key.pairing == pairing and key.step == "issue"

    staff = User.objects.get(pk=ids["staff"])
    assert staff.has_perm("access.change_personalkey")
    assert not staff.has_perm("accounts.change_personalkey")

    entry = LogEntry.objects.get(pk=ids["entry"])
    assert entry.content_type_id is not None
    assert ContentType.objects.get_for_id(entry.content_type_id).app_label == "access"
    assert entry.get_edited_object() == key

    assert PeriodicTask.objects.get(pk=ids["beat"]).task == "access.personal_keys_due"
    assert not ContentType.objects.filter(app_label="accounts", model="personalkey").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("app", "name"), MOVE_MIGRATIONS)
def test_the_move_rewrites_no_table(app: str, name: str) -> None:
    out = io.StringIO()
    call_command("sqlmigrate", app, name, stdout=out)
    statements = [line for line in out.getvalue().splitlines() if not line.startswith("--")]
    assert not [s for s in statements if re.search(r"\b(CREATE|ALTER|DROP|RENAME)\b", s, re.IGNORECASE)]
