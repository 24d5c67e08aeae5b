"""A class invited from one CSV, in a real browser against the running portal: a 30-row file with
3 bad rows previews 27 invitations and 3 reasons; confirming sends 27 mails through a real
worker; the same file again adds none; an invited person signs up through their link and gets
a ready LibreChat account and their own key (contract simulators); a look-alike of an invited
address is refused. Screenshots of each page go to test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.litellm.models import KeyPlan
from portal.access.models import Pairing, PersonalKey
from portal.accounts.models import Invitation, SignupMode, SignupPolicy, User
from portal.models import MailStatus, OutgoingMail
from tests.access.personal_keys.support import litellm_keys_of, make_pairing, pushed_raw_key
from tests.e2e.conftest import ARTIFACTS, admin_log_in
from tests.simulators.librechat import LibreChatSimulator
from tests.simulators.litellm import LiteLLMSimulator

pytestmark = pytest.mark.e2e
STAFF_PASSWORD = "a long admin passphrase 9"
PASSWORD = "a long portal passphrase 7"
LOOK_ALIKE = "student1@sch\u043eol.example"  # a Cyrillic "o" in the domain


@pytest.fixture
def pairing(transactional_db: None) -> Iterator[Pairing]:
    from tests.access.personal_keys.support import MASTER

    with LiteLLMSimulator(master_key=MASTER, seed=18) as litellm, LibreChatSimulator() as chat:
        chat.add_user("operator@example.com", "operator-password")  # LibreChat's first (ADMIN)
        made = make_pairing(litellm, chat)  # both on backend-dev, the e2e worker's network
        KeyPlan.objects.create(name="students", allowed_models=["gpt-4o-mock"], rpm_limit=10)
        SignupPolicy.objects.all().delete()
        SignupPolicy.objects.create(mode=SignupMode.INVITATION)
        made.sims = (litellm, chat)  # type: ignore[attr-defined]
        yield made


def class_csv(tmp_path: Path) -> Path:
    rows = [f"student{n}@school.example,Student {n},{'students' if n == 0 else ''}" for n in range(27)]
    rows[5:5] = ["not-an-address,Nobody,", f"{LOOK_ALIKE},Look Alike,", "student2@School.example,Twice,"]
    path = tmp_path / "class-7b.csv"
    path.write_text("email,name,plan\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"invitations-{name}.png"), full_page=True)


def wait_until(condition: Callable[[], bool], what: str, worker: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached in {seconds} s\n{worker.log()[-3000:]}")
        time.sleep(0.3)


def link_of(email: str) -> str:
    invitation = Invitation.objects.select_related("mail").get(email=email)
    assert invitation.mail is not None
    found = re.search(r"https?://[^/\s]+(/accounts/invitation/[^/\s]+/)", invitation.mail.body.reveal())
    assert found, invitation.mail.subject
    return found.group(1)


def upload(page: Any, path: Path) -> None:
    page.goto("/admin/accounts/invitation/")
    page.get_by_role("link", name="Invite from a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"/import/\d+/$"))


def test_a_class_is_invited_from_a_csv_and_a_student_signs_up_through_the_link(
    page: Any, browser: Any, live_server: Any, pairing: Pairing, e2e_worker: Any, tmp_path: Path
) -> None:
    litellm, chat = pairing.sims  # type: ignore[attr-defined]
    User.objects.create_superuser(email="teacher@school.example", password=STAFF_PASSWORD)
    admin_log_in(page, "teacher@school.example", STAFF_PASSWORD)
    csv_file = class_csv(tmp_path)

    upload(page, csv_file)
    shot(page, "1-preview")
    assert page.locator("td.verdict-new").count() == 27
    refused = page.locator("tr", has=page.locator("td.verdict-refused"))
    assert refused.count() == 3
    reasons = " | ".join(refused.all_inner_texts())
    assert "Enter a valid email address." in reasons
    assert "mixes letters of different alphabets" in reasons, reasons
    assert "CYRILLIC SMALL LETTER O (U+043E)" in reasons
    assert "the same address as line 4" in reasons
    assert not Invitation.objects.exists() and not OutgoingMail.objects.exists()

    page.get_by_role("button", name="Invite 27 people").click()
    page.wait_for_url(re.compile(r"/import/\d+/$"))
    wait_until(
        lambda: OutgoingMail.objects.filter(kind="invitation", status=MailStatus.SENT).count() == 27,
        "27 invitation mails sent",
        e2e_worker,
    )
    page.reload()
    page.get_by_role("heading", name="Done").wait_for()
    assert "27 of 27" in page.locator("table.import-counts").last.inner_text()
    shot(page, "2-done")

    upload(page, csv_file)
    page.get_by_text("Nobody to invite from this file.").wait_for()
    assert page.locator("td.verdict-invited").count() == 27
    shot(page, "3-reupload")
    assert Invitation.objects.count() == 27 and OutgoingMail.objects.count() == 27

    page.goto("/admin/accounts/invitation/")
    assert page.get_by_text(re.compile(r"^sent \d\d-\d\d \d\d:\d\d$")).count() >= 27
    shot(page, "4-invitations")

    # A student opens their link in a browser of their own.
    student_context = browser.new_context(base_url=live_server.url)
    try:
        student_signs_up(student_context.new_page(), litellm, chat, e2e_worker)
    finally:
        student_context.close()


def student_signs_up(
    student: Any, litellm: LiteLLMSimulator, chat: LibreChatSimulator, e2e_worker: Any
) -> None:
    student.set_default_timeout(15_000)
    student.goto(link_of("student1@school.example"))
    student.get_by_label("Email").fill(LOOK_ALIKE)
    student.get_by_label("Name").fill("Student One")
    student.get_by_label("Password", exact=True).fill(PASSWORD)
    student.get_by_label("Password again").fill(PASSWORD)
    student.get_by_role("button", name="Sign up").click()
    student.get_by_role("alert").filter(has_text="different alphabets").wait_for()
    shot(student, "5-look-alike-refused")
    assert not User.objects.filter(email__startswith="student1").exists()

    student.goto(link_of("student0@school.example"))
    assert student.get_by_label("Email").input_value() == "student0@school.example"
    student.get_by_label("Password", exact=True).fill(PASSWORD)
    student.get_by_label("Password again").fill(PASSWORD)
    student.get_by_role("button", name="Sign up").click()
    student.wait_for_url("**/me/")
    person = User.objects.get(email="student0@school.example")
    wait_until(
        lambda: PersonalKey.objects.filter(person=person, status="ready", step="").exists(),
        "the student's key ready",
        e2e_worker,
    )
    student.reload()
    assert student.get_by_role("status").first.inner_text().lower().startswith("ready")
    assert "sk-..." in student.get_by_role("heading", name="Your AI key").locator("xpath=..").inner_text()
    shot(student, "6-student-ready")
    assert PersonalKey.objects.get(person=person).plan.name == "students"  # the CSV row's plan
    [key] = litellm_keys_of(litellm, person)
    assert key["models"] == ["gpt-4o-mock"] and key["rpm_limit"] == 10
    assert pushed_raw_key(chat, person.email).startswith("sk-")
    assert chat.calls[("POST", "/api/auth/register")] == 1

    student.goto(link_of("student0@school.example"))  # the link works once
    student.get_by_text("This invitation was already used.").wait_for()
    shot(student, "7-used-link")


def test_staff_invite_one_address_see_its_link_once_and_a_bad_file_gets_one_sentence(
    page: Any, transactional_db: None, tmp_path: Path
) -> None:
    User.objects.create_superuser(email="teacher@school.example", password=STAFF_PASSWORD)
    admin_log_in(page, "teacher@school.example", STAFF_PASSWORD)
    page.goto("/admin/accounts/invitation/add/")
    page.get_by_label("Email").fill("Ann@School.example")
    page.get_by_label("Name").fill("Ann Example")
    page.get_by_role("button", name="Save", exact=True).click()
    link = page.get_by_label("Invitation link for ann@school.example").input_value()
    assert re.search(r"/accounts/invitation/[A-Za-z0-9_-]{40,}/$", link)
    shot(page, "8-link-shown-once")
    page.get_by_role("link", name="Done").click()
    page.get_by_text("not sent yet: waiting for a worker").wait_for()  # no worker in this test
    assert link not in page.content()

    semicolons = tmp_path / "export.csv"
    semicolons.write_text("email;name\nbob@school.example;Bob\n", encoding="utf-8")
    page.get_by_role("link", name="Invite from a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(semicolons))
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("The columns are separated by semicolons, not commas").wait_for()
    shot(page, "9-bad-file")
