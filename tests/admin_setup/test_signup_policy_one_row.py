"""The signup policy is one row in the database itself: two saves of the first policy at the same
moment leave one row, and the admin's losing save lands on the one there is, with a message."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from portal.accounts.models import SignupMode, SignupPolicy, User

pytestmark = pytest.mark.django_db(transaction=True)  # each thread commits on its own connection

ADD = "/admin/accounts/signuppolicy/add/"


def in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `work` on a thread (so on its own DB connection, closed after); its result or error lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as error:  # the test reads it
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_two_first_saves_at_once_leave_one_row() -> None:
    start = threading.Barrier(2)

    def save(mode: str) -> Any:
        start.wait(timeout=10)
        return SignupPolicy.objects.create(mode=mode).pk

    runs = [in_thread(lambda mode=mode: save(mode)) for mode in (SignupMode.OPEN, SignupMode.CLOSED)]
    for thread, _ in runs:
        thread.join(timeout=20)
    outcomes = [outcome for _, outcome in runs]
    assert SignupPolicy.objects.count() == 1
    assert sum("result" in o for o in outcomes) == 1
    assert sum(isinstance(o.get("error"), IntegrityError) for o in outcomes) == 1
    winner = next(o["result"] for o in outcomes if "result" in o)
    assert SignupPolicy.objects.get().pk == winner


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def test_the_admins_losing_save_leads_to_the_saved_policy_with_a_message() -> None:
    staff = Client()
    staff.force_login(User.objects.create_superuser(email="ops@example.com", password="x long passphrase"))
    inserted, commit = threading.Event(), threading.Event()

    def other_staff_saves() -> int:
        # Their insert is made but not yet committed, so our admin still sees no policy and saves.
        with transaction.atomic():
            policy = SignupPolicy.objects.create(mode=SignupMode.CLOSED)
            inserted.set()
            assert commit.wait(timeout=20)
        return policy.pk

    other, other_outcome = in_thread(other_staff_saves)
    assert inserted.wait(timeout=10)
    ours, our_outcome = in_thread(
        lambda: staff.post(ADD, {"mode": SignupMode.OPEN, "allowed_domains": ""}, follow=True)
    )
    deadline = time.monotonic() + 10
    while waiting_on_a_lock() == 0:  # our insert waits on theirs at the unique index
        assert time.monotonic() < deadline, "the admin's save never reached the database"
        time.sleep(0.02)
    commit.set()
    other.join(timeout=20)
    ours.join(timeout=20)

    policy = SignupPolicy.objects.get()
    assert policy.pk == other_outcome["result"] and policy.mode == SignupMode.CLOSED
    response = our_outcome["result"]
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/admin/accounts/signuppolicy/{policy.pk}/change/"
    assert b"Someone else saved the signup policy a moment ago, so yours was not saved." in response.content


@pytest.mark.django_db(transaction=False)  # the schema steps roll back with the test's transaction
def test_the_migration_keeps_the_policy_signup_obeys_and_drops_the_others() -> None:
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("accounts", "0008_admin_words")], [("accounts", "0009_signup_policy_one_row")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    with connection.cursor() as cursor:  # rows a race could have made before the constraint
        for mode in (SignupMode.CLOSED, SignupMode.OPEN, SignupMode.INVITATION):
            cursor.execute(
                "INSERT INTO accounts_signuppolicy (mode, allowed_domains, updated_at) VALUES (%s, '', now())",
                [mode],
            )
    MigrationExecutor(connection).migrate(after)
    assert list(SignupPolicy.objects.values_list("mode", flat=True)) == [SignupMode.CLOSED]
