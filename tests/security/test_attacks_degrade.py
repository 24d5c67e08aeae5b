"""Issue 11, items 5-8: what an attacker got from the portal when its helpers failed.

Item 5: a forced 500 on every form that takes a password or secret mails the admins a report with none of the POSTed secrets in it.
Item 6: with Redis down (a closed port), login, signup, password reset and the reveal answer within seconds without a 500, still limited per process; "Check now" and "Re-login" answer "pending" within seconds.
Item 7: with a mail server that accepts and never answers, signup returns at once; the mail is retried with backoff by a worker and the failure shows in the admin.
Item 8: with mail failing, signup with a taken address and with a new one get the same answer.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.librechat import accounts as librechat
from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
from portal.accounts.models import SignupMode, SignupPolicy, User
from portal.connectivity.models import Target
from tests.smtp_listener import LoopbackSMTP

pytestmark = pytest.mark.django_db

PASSWORD = "a long portal passphrase 7"
# A request that waits on a dead dependency longer than this is the hang the issue reports.
FEW_SECONDS = 3.0


def signup_data(email: str) -> dict[str, str]:
    return {"email": email, "name": "Ann Example", "password1": PASSWORD, "password2": PASSWORD}


def make_person(email: str = "ann@example.com") -> User:
    now = timezone.now()
    return User.objects.create_user(
        email=email, password=PASSWORD, name="Ann Example", email_verified_at=now, approved_at=now
    )


def ready_account(person: User) -> LibreChatAccount:
    server = LibreChatServer.objects.create(
        name="librechat-api",
        api_url="http://127.0.0.1:9/",
        public_url="https://chat.example.com",
        network="backend-dev",
    )
    account = librechat.account_create(person=person, server=server)
    assert account is not None
    LibreChatAccount.objects.filter(pk=account.pk).update(
        status=AccountStatus.READY, provisioned_at=timezone.now()
    )
    account.refresh_from_db()
    return account


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


# --- item 6: Redis down -----------------------------------------------------------------------


@pytest.fixture
def redis_down(settings: Any, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Cache, broker and result backend all on a loopback port nothing listens on: a real
    Redis client meets a refused connection, as when the server is stopped."""
    from portal.accounts import rate_limits
    from portal.celery import app

    # This process's fallback counts start empty and end with the test (no pause left behind).
    monkeypatch.setattr(rate_limits, "_local", rate_limits._LocalCounts())

    url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": url},
    }
    before = (app.conf.broker_url, app.conf.result_backend)

    def point_at(broker: str, backend: str) -> None:
        # kombu keeps one pool per broker URL; the app caches the pool and the backend it used.
        app.conf.update(broker_url=broker, result_backend=backend)
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]
        app._local.__dict__.pop("backend", None)  # type: ignore[attr-defined]

    point_at(url, url)
    yield url
    point_at(*before)


def test_item6_login_with_redis_down_answers_fast_and_still_limits(client: Client, redis_down: str) -> None:
    make_person()
    answers = []
    for _ in range(7):
        response, elapsed = timed(
            client.post, "/accounts/login/", {"username": "ann@example.com", "password": "wrong guess"}
        )
        assert elapsed < FEW_SECONDS
        answers.append(response.status_code)
    # The per-email limit (5 in 5 minutes) holds in this process while Redis is away.
    assert answers == [200] * 5 + [429] * 2
    response, _ = timed(
        client.post, "/accounts/login/", {"username": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429


def test_item6_the_right_password_still_signs_in_with_redis_down(client: Client, redis_down: str) -> None:
    make_person()
    response, elapsed = timed(
        client.post, "/accounts/login/", {"username": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/me/" and elapsed < FEW_SECONDS


def test_item6_signup_and_password_reset_with_redis_down_answer_fast(client: Client, redis_down: str) -> None:
    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    response, elapsed = timed(client.post, "/accounts/signup/", signup_data("new@example.com"))
    assert response.status_code == 302 and elapsed < FEW_SECONDS
    assert User.objects.filter(email="new@example.com").exists()
    make_person()
    for _ in range(10):
        response, elapsed = timed(client.post, "/accounts/password_reset/", {"email": "ann@example.com"})
        assert response.status_code == 302 and elapsed < FEW_SECONDS
    response, _ = timed(client.post, "/accounts/password_reset/", {"email": "ann@example.com"})
    assert response.status_code == 429  # never unlimited mails to someone's inbox


def test_item6_the_reveal_with_redis_down_answers_fast_and_still_limits(
    client: Client, redis_down: str
) -> None:
    person = make_person()
    account = ready_account(person)
    client.force_login(person)
    response, elapsed = timed(client.post, "/me/", {"password": PASSWORD})
    assert response.status_code == 200 and elapsed < FEW_SECONDS
    assert account.password.reveal() in response.content.decode()
    answers = [client.post("/me/", {"password": "guess"}).status_code for _ in range(5)]
    assert answers == [200] * 4 + [429]


def test_item6_check_now_with_redis_down_says_pending_within_seconds(
    admin_client: Client, redis_down: str, proof_line: Any
) -> None:
    target = Target.objects.filter(placements__isnull=False).distinct().first()
    assert target is not None and target.placements.count() >= 2  # the seeds place it on both networks
    url = reverse("admin:connectivity_target_check_now", args=[target.pk])
    response, elapsed = timed(admin_client.post, url, follow=True)
    assert response.status_code == 200 and elapsed < FEW_SECONDS
    assert "pending" in response.content.decode()
    proof_line(f"degrade: redis_down check_now_s={elapsed:.2f} networks={target.placements.count()}")


def test_item6_relogin_with_redis_down_says_pending_within_seconds(
    admin_client: Client, redis_down: str, proof_line: Any
) -> None:
    account = ready_account(make_person())
    response, elapsed = timed(
        admin_client.post,
        "/admin/librechat/librechataccount/",
        {"action": "relogin", "_selected_action": [account.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200 and elapsed < FEW_SECONDS
    assert "re-login pending" in response.content.decode()
    proof_line(f"degrade: redis_down relogin_s={elapsed:.2f}")


# --- item 5: error mails --------------------------------------------------------------------


@pytest.fixture
def refuse_writes() -> Any:
    """A PostgreSQL trigger that fails every write to a table: a real downstream error (the
    disk is full, a constraint someone added) in the middle of a form's save. It lives in
    the test's transaction and is rolled back with it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"
        )

    def on(table: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TRIGGER test_refuse_{table} BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_write()"
            )

    return on


def error_report(client: Client, url: str, data: dict[str, str], secrets: list[str]) -> str:
    """POST, expect the 500, and return the one error mail the admins got (checked clean)."""
    from django.core import mail

    before = len(mail.outbox)
    with transaction.atomic():  # the failed write aborts only this savepoint, not the test
        response = client.post(url, data)
        transaction.set_rollback(True)
    assert response.status_code == 500, re.findall(
        r'class="errorlist[^>]*>(.*?)</ul>', response.content.decode()
    )
    reports = mail.outbox[before:]
    assert [m.to for m in reports] == [["security@example.com"]], [m.subject for m in reports]
    report = reports[0]
    text = "\n".join(
        [str(report.subject), str(report.body), *(str(a[0]) for a in getattr(report, "alternatives", []))]
    )
    assert url.split("?")[0] in text and "No space left on device" in text  # it is the report
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the error mail for {url}"
    assert "********************" in text  # the POST is listed, its secret values starred
    return text


@pytest.fixture
def error_mails(settings: Any) -> None:
    settings.ADMINS = [("Security", "security@example.com")]
    settings.DEBUG = False


def erroring_client(user: User | None = None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def test_item5_signup_and_login_errors_mail_no_password(refuse_writes: Any, error_mails: None) -> None:
    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    make_person()
    User.objects.create_superuser(email="root@example.com", password="root passphrase 42")
    refuse_writes("accounts_user")  # signup inserts, login updates last_login
    error_report(erroring_client(), "/accounts/signup/", signup_data("new@example.com"), [PASSWORD])
    error_report(
        erroring_client(),
        "/accounts/login/",
        {"username": "ann@example.com", "password": PASSWORD},
        [PASSWORD],
    )
    error_report(
        erroring_client(),
        "/admin/login/?next=/admin/",
        {"username": "root@example.com", "password": "root passphrase 42"},
        ["root passphrase 42"],
    )


def test_item5_password_reset_and_change_errors_mail_no_password(
    refuse_writes: Any, error_mails: None
) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    person = make_person()
    root = User.objects.create_superuser(email="root@example.com", password="root passphrase 42")
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    client, staff = erroring_client(), erroring_client(root)
    # The confirm page moves the token into the session, then asks for the new password.
    assert (
        client.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(person)}/").status_code == 302
    )
    refuse_writes("accounts_user")
    new = "a brand new passphrase 9"
    error_report(
        client, f"/accounts/reset/{uid}/set-password/", {"new_password1": new, "new_password2": new}, [new]
    )
    error_report(
        staff,
        "/admin/password_change/",
        {"old_password": "root passphrase 42", "new_password1": new, "new_password2": new},
        ["root passphrase 42", new],
    )
    error_report(
        staff,
        "/admin/accounts/user/add/",
        {
            "email": "bob@example.com",
            "name": "Bob",
            "usable_password": "true",
            "password1": new,
            "password2": new,
        },
        [new],
    )


def test_item5_the_reveal_error_mails_no_password(error_mails: None) -> None:
    from django.core import mail
    from django.db import connection

    person = make_person()
    account = ready_account(person)
    # A real database error while the page reads the account (a column lost in a botched
    # manual migration; rolled back with the test's transaction). An unreadable secret is not
    # used here: it answers a 503 page of its own (portal/unreadable_secrets.py), not an error.
    assert account.pk
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE librechat_librechataccount RENAME COLUMN password TO password_lost")
    client = erroring_client(person)
    response = client.post("/me/", {"password": PASSWORD})
    assert response.status_code == 500, response.content.decode()[-3000:]
    [report] = [m for m in mail.outbox if m.to == ["security@example.com"]]
    assert "/me/" in report.subject + str(report.body)
    assert PASSWORD not in report.subject + str(report.body)
    assert "********************" in str(report.body)


def test_item5_admin_forms_with_secrets_mail_none_of_them(
    admin_client: Client, refuse_writes: Any, error_mails: None
) -> None:
    from portal.connectivity.models import Network

    admin = User.objects.get(is_superuser=True)
    network = Network.objects.order_by("pk").first()
    assert network is not None
    master = "sk-master-never-in-mail-0123456789"
    refuse_writes("litellm_litellmserver")
    error_report(
        erroring_client(admin),
        reverse("admin:litellm_litellmserver_add"),
        {
            "name": "litellm-x",
            "base_url": "http://litellm:4000",
            "network": "backend-dev",
            "master_key_input": master,
        }
        | {"llm_models-TOTAL_FORMS": "0", "llm_models-INITIAL_FORMS": "0"},
        [master],
    )
    refuse_writes("connectivity_target")
    error_report(
        erroring_client(admin),
        reverse("admin:connectivity_target_add"),
        {
            "name": "prod redis",
            "preset": "redis",
            "address": "redis://redis:6379/0",
            "new_password": "hunter2-target-secret",
            "service_names": "redis",
            "timeout_seconds": "3",
            "interval_seconds": "60",
            "failure_threshold": "2",
            "enabled": "on",
            "placements-TOTAL_FORMS": "1",
            "placements-INITIAL_FORMS": "0",
            "placements-0-network": str(network.pk),
            "placements-0-expect": "unreachable",
        },
        ["hunter2-target-secret"],
    )
    refuse_writes("connectivity_alertchannel")
    hook = "https://hooks.slack.com/services/T0/B0/very-secret-hook"
    error_report(
        erroring_client(admin),
        reverse("admin:connectivity_alertchannel_add"),
        {"name": "slack", "kind": "webhook", "email_to": "", "new_webhook_url": hook, "enabled": "on"},
        [hook, "very-secret-hook"],
    )


# --- items 7 and 8: a mail server that hangs or fails -----------------------------------------


@pytest.fixture
def silent_smtp() -> Iterator[LoopbackSMTP]:
    server = LoopbackSMTP().start()
    yield server
    server.stop()


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_item7_signup_returns_at_once_and_a_worker_retries_the_mail(
    settings: Any,
    silent_smtp: LoopbackSMTP,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    proof_line: Any,
) -> None:
    from portal.core import mail
    from portal.models import MailStatus, OutgoingMail
    from tests.workers import CeleryWorker, database_url_for_tests

    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    # Were the request to send it, the page would wait on this server (30 s per reply).
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", silent_smtp.port, 30
    response, elapsed = timed(Client().post, "/accounts/signup/", signup_data("new@example.com"))
    assert response.status_code == 302 and elapsed < FEW_SECONDS
    queued = OutgoingMail.objects.get(to=["new@example.com"])
    assert queued.kind == "verify_email" and queued.status == MailStatus.WAITING and queued.attempts == 0

    worker = CeleryWorker(
        database_url=database_url_for_tests(),
        broker_url=redis_url,
        queues=["default"],
        concurrency=1,
        extra_env={"EMAIL_URL": f"smtp://127.0.0.1:{silent_smtp.port}", "EMAIL_TIMEOUT": "1"},
    )
    worker.start()
    try:
        # The wake-up sent after the signup's commit: one try, cut off by EMAIL_TIMEOUT.
        wait_for(lambda: OutgoingMail.objects.get(pk=queued.pk).attempts == 1, 20, "the first try")
        queued.refresh_from_db()
        assert queued.status == MailStatus.WAITING and silent_smtp.connections >= 1
        assert "did not answer within 1 s" in queued.last_error
        assert queued.next_attempt_at is not None
        wait = (queued.next_attempt_at - timezone.now()).total_seconds()
        assert mail.BACKOFF_BASE_SECONDS * 0.9 < wait <= mail.BACKOFF_BASE_SECONDS * 1.1

        # Staff see it in the admin, without the body (its link is a credential).
        root = User.objects.create_superuser(email="root@example.com", password="root passphrase 42")
        staff = Client()
        staff.force_login(root)
        page = staff.get("/admin/portal/outgoingmail/").content.decode()
        assert "new@example.com" in page and "did not answer within 1 s" in page
        token = queued.body.reveal().split("/accounts/verify/")[1].split("/")[0]
        detail = staff.get(f"/admin/portal/outgoingmail/{queued.pk}/change/").content.decode()
        assert "did not answer within 1 s" in detail and token not in page + detail

        assert mail.mails_send_due() == 0  # not due before its backoff has passed
        silent_smtp.answer()
        later = timezone.now() + dt.timedelta(seconds=wait + 1)
        with monkeypatch.context() as clock:
            clock.setattr(timezone, "now", lambda: later)
            assert mail.mails_send_due() == 1  # the beat's pass hands it to the worker again
        wait_for(lambda: OutgoingMail.objects.get(pk=queued.pk).status == MailStatus.SENT, 20, "the retry")
    finally:
        worker.stop()
    queued.refresh_from_db()
    assert queued.attempts == 2 and queued.last_error == ""
    [message] = silent_smtp.messages
    assert "Confirm your email address" in message and token in message
    proof_line(f"degrade: silent_smtp signup_s={elapsed:.2f} first_retry_after_s={wait:.0f} attempts=2")


@pytest.mark.django_db(transaction=True)
def test_item8_with_mail_failing_a_taken_and_a_new_address_get_the_same_answer(
    settings: Any, unused_tcp_port: int
) -> None:
    from portal.models import OutgoingMail

    SignupPolicy.objects.create(mode=SignupMode.OPEN)
    make_person("taken@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", unused_tcp_port, 2
    answers = []
    for email in ("taken@example.com", "fresh@example.com", "TAKEN@example.com"):
        client = Client(raise_request_exception=False)
        response, elapsed = timed(client.post, "/accounts/signup/", signup_data(email))
        done = client.get(response.get("Location", "/accounts/signup/done/"))
        answers.append((response.status_code, response.get("Location"), done.status_code, done.content))
        assert elapsed < FEW_SECONDS
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][:2] == (302, "/accounts/signup/done/")
    # Nothing is lost: the owner's note and the new person's link wait in the outbox.
    assert sorted(OutgoingMail.objects.values_list("kind", flat=True)) == [
        "already_registered",
        "already_registered",
        "verify_email",
    ]


def test_item7_staff_with_change_permission_send_a_given_up_mail_again(
    staff_with: Any,
) -> None:
    from portal.core import mail
    from portal.models import MailStatus, OutgoingMail
    from tests.mailbox import deliver_queued_mail

    given_up = mail.already_registered(email="ann@example.com")
    OutgoingMail.objects.filter(pk=given_up.pk).update(
        status=MailStatus.FAILED,
        attempts=mail.MAX_ATTEMPTS,
        next_attempt_at=None,
        last_error="SMTPAuthenticationError",
    )
    action = {"action": "send_again", "_selected_action": [given_up.pk], "post": "yes"}
    viewer = staff_with("portal.view_outgoingmail", email="viewer@example.com")
    assert "SMTPAuthenticationError" in viewer.get("/admin/portal/outgoingmail/").content.decode()
    viewer.post("/admin/portal/outgoingmail/", action)
    assert OutgoingMail.objects.get(pk=given_up.pk).status == MailStatus.FAILED  # view-only: no action

    changer = staff_with("portal.view_outgoingmail", "portal.change_outgoingmail")
    response = changer.post("/admin/portal/outgoingmail/", action, follow=True)
    assert "1 mail(s) handed to a worker" in response.content.decode()
    assert OutgoingMail.objects.get(pk=given_up.pk).status == MailStatus.WAITING
    assert [m.subject for m in deliver_queued_mail()] == ["You already have an account"]
    assert OutgoingMail.objects.get(pk=given_up.pk).status == MailStatus.SENT
