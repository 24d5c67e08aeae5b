"""LibreChat in the admin: lists without secrets, actions through the admin log, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from integrations.librechat import provisioning, sessions
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer, LibreChatSession
from portal.core.queues import network_queue_name
from tests.simulators.librechat import LibreChatSimulator
from tests.workers import CeleryWorker, database_url_for_tests

MakeAccount = Callable[..., LibreChatAccount]


@pytest.fixture
def staff_client(client: Client, django_user_model: Any, settings: Any) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(admin)
    return client


@pytest.fixture
def ready_account(sim: LibreChatSimulator, make_account: MakeAccount) -> LibreChatAccount:
    account = make_account()
    provisioning.account_provision(account_id=account.pk)
    account.refresh_from_db()
    return account


@pytest.mark.django_db
def test_it_lists_accounts_with_status_and_errors_but_no_secrets(
    staff_client: Client, ready_account: LibreChatAccount, make_account: MakeAccount, sim: LibreChatSimulator
) -> None:
    sim.set_faults(status_override=503)
    waiting = make_account("bob@example.com")
    provisioning.account_provision(account_id=waiting.pk)
    response = staff_client.get("/admin/librechat/librechataccount/?status__exact=waiting")
    body = response.content.decode()
    assert response.status_code == 200
    assert "bob@example.com" in body and "ann@example.com" not in body and "503" in body
    full = staff_client.get("/admin/librechat/librechataccount/").content.decode()
    assert "ADMIN ⚠" in full  # the first LibreChat account ever
    detail = staff_client.get(
        f"/admin/librechat/librechataccount/{ready_account.pk}/change/"
    ).content.decode()
    assert ready_account.password.reveal() not in full + detail


@pytest.mark.django_db
def test_it_shows_sessions_with_masked_tokens(staff_client: Client, ready_account: LibreChatAccount) -> None:
    session = LibreChatSession.objects.get(account=ready_account)
    body = staff_client.get("/admin/librechat/librechatsession/").content.decode()
    assert session.access_token.masked() in body
    assert session.access_token.reveal() not in body and session.refresh_token.reveal() not in body
    detail = staff_client.get(f"/admin/librechat/librechatsession/{session.pk}/change/").content.decode()
    assert session.refresh_token.reveal() not in detail


@pytest.mark.django_db
def test_it_queues_provisioning_and_logs_the_action(
    staff_client: Client, make_account: MakeAccount, django_capture_on_commit_callbacks: Any
) -> None:
    account = make_account()
    LibreChatAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.NEEDS_ATTENTION, next_attempt_at=None
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            "/admin/librechat/librechataccount/",
            {"action": "retry", "_selected_action": [account.pk], "post": "yes"},
        )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == AccountStatus.WAITING and account.next_attempt_at is not None
    assert len(callbacks) == 1
    assert LogEntry.objects.filter(object_id=str(account.pk), change_message="Retry").exists()


@pytest.mark.django_db
def test_it_revokes_sessions_from_the_admin(staff_client: Client, ready_account: LibreChatAccount) -> None:
    staff_client.post(
        "/admin/librechat/librechataccount/",
        {"action": "revoke_sessions", "_selected_action": [ready_account.pk], "post": "yes"},
    )
    assert sessions.session_live(account=ready_account) is None
    assert LogEntry.objects.filter(change_message__startswith="Revoked 1 LibreChat session").exists()


@pytest.mark.django_db
def test_it_provisions_every_verified_person_without_an_account_and_shows_progress(
    staff_client: Client, server: LibreChatServer, django_user_model: Any, make_account: MakeAccount
) -> None:
    now = timezone.now()
    for n in range(3):
        django_user_model.objects.create_user(
            email=f"p{n}@example.com", email_verified_at=now, approved_at=now
        )
    django_user_model.objects.create_user(email="unverified@example.com", approved_at=now)
    make_account("has@example.com")
    page = staff_client.get("/admin/accounts/user/provision-librechat/").content.decode()
    assert "Provision 3 people" in page
    response = staff_client.post("/admin/accounts/user/provision-librechat/")
    assert response.status_code == 302
    assert LibreChatAccount.objects.count() == 4
    assert not LibreChatAccount.objects.filter(person__email="unverified@example.com").exists()
    page = staff_client.get("/admin/accounts/user/provision-librechat/").content.decode()
    assert "<td>4</td>" in page and "Provision 0 people" in page
    assert LogEntry.objects.filter(change_message__contains="without an account (3)").exists()


@pytest.fixture
def net_worker(transactional_db: None, redis_url: str) -> Iterator[CeleryWorker]:
    from django.core.cache import cache

    cache.clear()  # the test Redis database: drops wake-ups other tests left for ids long gone
    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=[network_queue_name("backend-dev")],
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_resets_the_password_and_checks_the_server_through_the_network_worker(
    staff_client: Client, ready_account: LibreChatAccount, sim: LibreChatSimulator, net_worker: CeleryWorker
) -> None:
    old = ready_account.password.reveal()
    response = staff_client.post(
        "/admin/librechat/librechataccount/",
        {"action": "reset_password", "_selected_action": [ready_account.pk], "post": "yes"},
        follow=True,
    )
    assert "password reset" in response.content.decode(), net_worker.log()[-3000:]
    ready_account.refresh_from_db()
    assert ready_account.password.reveal() != old
    assert sim.check_password("ann@example.com", ready_account.password.reveal())
    assert LogEntry.objects.filter(change_message="Reset the LibreChat password: password reset").exists()

    sim.configure(allow_registration=False)
    response = staff_client.post(
        "/admin/librechat/librechatserver/",
        {"action": "check_connection", "_selected_action": [ready_account.server_id], "post": "yes"},
        follow=True,
    )
    assert "registration is closed" in response.content.decode()


@pytest.mark.django_db
def test_it_keeps_the_provisioning_page_from_staff_without_permission(
    client: Client, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_user(email="staff@example.com", password=None, is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/accounts/user/provision-librechat/").status_code == 403
    assert client.post("/admin/accounts/user/provision-librechat/").status_code == 403


@pytest.mark.django_db
def test_it_lets_staff_fix_the_name_librechat_rejected(
    staff_client: Client, make_account: MakeAccount
) -> None:
    account = make_account()
    url = f"/admin/librechat/librechataccount/{account.pk}/change/"
    response = staff_client.post(url, {"name": "Ann Example-Fixed"})
    assert response.status_code == 302
    account = LibreChatAccount.objects.get(pk=account.pk)
    assert account.name == "Ann Example-Fixed" and account.server.name == "librechat-api"
