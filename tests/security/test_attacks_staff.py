"""Attacks by staff on the people admin, replayed over HTTP as a staff member would send them.

Item 3: staff without superuser status cannot tick superuser or staff status, grant a permission
or a group beyond their own (nor take away what they do not hold themselves), nor change, set the
password of, or delete (alone or in bulk) a superuser or anyone holding more than they do; the
same holds for the group admin and for the add forms; what they do hold they can still grant.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from portal.accounts.models import User

pytestmark = pytest.mark.django_db
PASSWORD = "a long passphrase 1"
HELPDESK = ("accounts.view_user", "accounts.change_user")


def perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def staff_member(*perms: str, email: str = "helpdesk@example.com") -> User:
    staff = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
    staff.user_permissions.add(*(perm(p) for p in perms))
    return staff


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_data(person: User, **overrides: Any) -> dict[str, Any]:
    """The change form as the browser posts it for this row, with the attacker's edits on top."""
    data: dict[str, Any] = {
        "email": person.email,
        "name": person.name,
        "groups": [g.pk for g in person.groups.all()],
        "user_permissions": [p.pk for p in person.user_permissions.all()],
        "email_verified_at_0": "",
        "email_verified_at_1": "",
        "approved_at_0": "",
        "approved_at_1": "",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(person, flag):
            data[flag] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def change_url(person: User) -> str:
    return reverse("admin:accounts_user_change", args=[person.pk])


def labels(person: User) -> set[str]:
    fresh = User.objects.get(pk=person.pk)  # no cached permissions
    return {f"{p.content_type.app_label}.{p.codename}" for p in fresh.user_permissions.all()}


def test_helpdesk_staff_cannot_make_themselves_superuser_or_give_staff_status() -> None:
    helpdesk = staff_member(*HELPDESK)
    person = User.objects.create_user(email="ann@example.com", password=PASSWORD)
    client = logged_in(helpdesk)

    client.post(change_url(helpdesk), change_data(helpdesk, is_superuser="on"))
    client.post(change_url(person), change_data(person, is_staff="on", is_superuser="on", name="Ann"))

    helpdesk.refresh_from_db()
    person.refresh_from_db()
    assert not helpdesk.is_superuser
    assert not person.is_staff and not person.is_superuser
    assert person.name == "Ann"  # the rest of the form still saves: only the flags were theirs to keep


def test_helpdesk_staff_cannot_grant_themselves_a_permission_they_do_not_hold() -> None:
    helpdesk = staff_member(*HELPDESK)
    wanted = [perm("accounts.delete_user"), perm("litellm.change_litellmserver")]
    granted = [p.pk for p in helpdesk.user_permissions.all()] + [p.pk for p in wanted]

    response = logged_in(helpdesk).post(change_url(helpdesk), change_data(helpdesk, user_permissions=granted))

    assert response.status_code == 200  # the form again, with the reason
    assert b"only permissions you hold yourself" in response.content
    assert labels(helpdesk) == set(HELPDESK)


def test_staff_can_grant_what_they_hold_but_not_edit_someone_holding_more() -> None:
    helpdesk = staff_member(*HELPDESK)
    colleague = staff_member("accounts.view_user", "litellm.change_litellmserver", email="ops@example.com")
    client = logged_in(helpdesk)

    # Granting a permission they hold themselves works as before.
    with_change = [p.pk for p in colleague.user_permissions.all()] + [perm("accounts.change_user").pk]
    response = client.post(change_url(colleague), change_data(colleague, user_permissions=with_change))
    # ...except that the colleague holds more than the helpdesk: their row is not theirs to edit.
    assert response.status_code == 403
    assert labels(colleague) == {"accounts.view_user", "litellm.change_litellmserver"}

    person = User.objects.create_user(email="ann@example.com", password=PASSWORD, is_staff=False)
    response = client.post(
        change_url(person), change_data(person, user_permissions=[perm("accounts.view_user").pk])
    )
    assert response.status_code == 302, response.content
    assert labels(person) == {"accounts.view_user"}


def test_staff_cannot_take_away_a_permission_they_do_not_hold() -> None:
    helpdesk = staff_member(*HELPDESK, "litellm.view_litellmserver")
    person = staff_member("accounts.view_user", "litellm.view_litellmserver", email="ann@example.com")
    person.user_permissions.add(perm("litellm.view_virtualkey"))
    helpdesk.user_permissions.add(perm("litellm.view_virtualkey"))
    other = staff_member("connectivity.view_target", email="bob@example.com")
    # bob holds something the helpdesk does not: removing it is as much beyond them as granting it.
    response = logged_in(helpdesk).post(change_url(other), change_data(other, user_permissions=[]))
    assert response.status_code == 403
    assert labels(other) == {"connectivity.view_target"}

    # ann holds only what the helpdesk holds: removing part of it is fine.
    response = logged_in(helpdesk).post(
        change_url(person), change_data(person, user_permissions=[perm("accounts.view_user").pk])
    )
    assert response.status_code == 302, response.content
    assert labels(person) == {"accounts.view_user"}


def test_staff_can_add_only_groups_whose_permissions_they_hold() -> None:
    helpdesk = staff_member(*HELPDESK)
    readers = Group.objects.create(name="readers")
    readers.permissions.add(perm("accounts.view_user"))
    admins = Group.objects.create(name="key admins")
    admins.permissions.add(perm("accounts.view_user"), perm("litellm.delete_virtualkey"))
    client = logged_in(helpdesk)

    response = client.post(change_url(helpdesk), change_data(helpdesk, groups=[admins.pk]))
    assert response.status_code == 200
    assert b"only groups whose permissions you hold yourself" in response.content
    assert not helpdesk.groups.exists()

    response = client.post(change_url(helpdesk), change_data(helpdesk, groups=[readers.pk]))
    assert response.status_code == 302, response.content
    assert list(helpdesk.groups.all()) == [readers]


def test_staff_cannot_touch_a_superusers_row_or_password() -> None:
    helpdesk = staff_member(*HELPDESK)
    root = User.objects.create_superuser(email="root@example.com", password="the root passphrase")
    client = logged_in(helpdesk)

    response = client.post(change_url(root), change_data(root, email="mine@example.com", is_active=None))
    assert response.status_code == 403

    password_url = reverse("admin:auth_user_password_change", args=[root.pk])
    assert client.get(password_url).status_code == 403
    response = client.post(
        password_url,
        {
            "password1": "attacker passphrase 9",
            "password2": "attacker passphrase 9",
            "usable_password": "true",
        },
    )
    assert response.status_code == 403

    root.refresh_from_db()
    assert root.email == "root@example.com" and root.is_active
    assert root.check_password("the root passphrase")
    # They can still read the row (view permission): it shows without a save button.
    page = client.get(change_url(root))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_staff_cannot_set_the_password_of_someone_holding_more_than_they_do() -> None:
    helpdesk = staff_member(*HELPDESK)
    ops = staff_member("litellm.change_litellmserver", email="ops@example.com")
    # Suspended staff keep their permissions: reactivating them must not be a way around the rule.
    ops.is_active = False
    ops.save()
    response = logged_in(helpdesk).post(
        reverse("admin:auth_user_password_change", args=[ops.pk]),
        {
            "password1": "attacker passphrase 9",
            "password2": "attacker passphrase 9",
            "usable_password": "true",
        },
    )
    assert response.status_code == 403
    ops.refresh_from_db()
    assert ops.check_password(PASSWORD)


def test_staff_cannot_delete_a_superuser_alone_or_in_bulk() -> None:
    helpdesk = staff_member(*HELPDESK, "accounts.delete_user")
    root = User.objects.create_superuser(email="root@example.com", password="the root passphrase")
    person = User.objects.create_user(email="ann@example.com", password=PASSWORD)
    client = logged_in(helpdesk)

    response = client.post(reverse("admin:accounts_user_delete", args=[root.pk]), {"post": "yes"})
    assert response.status_code == 403

    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "_selected_action": [root.pk, person.pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert User.objects.filter(pk__in=[root.pk, person.pk]).count() == 2


def test_staff_bulk_actions_leave_a_superusers_row_alone() -> None:
    helpdesk = staff_member(*HELPDESK)
    root = User.objects.create_superuser(email="root@example.com", password="the root passphrase")
    ops = staff_member("litellm.change_litellmserver", email="ops@example.com")
    person = User.objects.create_user(email="ann@example.com", password=PASSWORD)

    response = logged_in(helpdesk).post(
        reverse("admin:accounts_user_changelist"),
        {
            "action": "mark_verified_and_approve",
            "_selected_action": [root.pk, ops.pk, person.pk],
            "post": "yes",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert b"ops@example.com, root@example.com hold(s) more than you do" in response.content
    for row in (root, ops):
        row.refresh_from_db()
        assert row.email_verified_at is None and row.approved_at is None
    person.refresh_from_db()
    assert person.email_verified_at is None  # nothing of a refused batch is done


def test_staff_who_may_change_groups_cannot_add_permissions_to_their_own_group() -> None:
    helpdesk = staff_member(*HELPDESK, "auth.view_group", "auth.change_group")
    group = Group.objects.create(name="helpdesk")
    helpdesk.groups.add(group)
    client = logged_in(helpdesk)
    url = reverse("admin:auth_group_change", args=[group.pk])

    response = client.post(url, {"name": "helpdesk", "permissions": [perm("accounts.delete_user").pk]})
    assert response.status_code == 200
    assert b"only permissions you hold yourself" in response.content
    assert not group.permissions.exists()

    response = client.post(url, {"name": "helpdesk", "permissions": [perm("accounts.view_user").pk]})
    assert response.status_code == 302, response.content
    assert list(group.permissions.all()) == [perm("accounts.view_user")]


def test_superusers_keep_every_power() -> None:
    root = User.objects.create_superuser(email="root@example.com", password="the root passphrase")
    person = User.objects.create_user(email="ann@example.com", password=PASSWORD)
    response = logged_in(root).post(
        change_url(person),
        change_data(person, is_staff="on", user_permissions=[perm("accounts.delete_user").pk]),
    )
    assert response.status_code == 302, response.content
    person.refresh_from_db()
    assert person.is_staff and labels(person) == {"accounts.delete_user"}


def test_staff_who_may_add_people_cannot_create_a_superuser_or_a_privileged_group() -> None:
    helpdesk = staff_member(*HELPDESK, "accounts.add_user", "auth.add_group")
    client = logged_in(helpdesk)

    client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "sock@example.com",
            "usable_password": "true",
            "password1": "a sock puppet passphrase 3",
            "password2": "a sock puppet passphrase 3",
            "is_superuser": "on",
            "is_staff": "on",
            "user_permissions": [perm("accounts.delete_user").pk],
        },
    )
    sock = User.objects.get(email="sock@example.com")  # created: only the privileges were ignored
    assert not sock.is_superuser and not sock.is_staff and labels(sock) == set()

    response = client.post(
        reverse("admin:auth_group_add"),
        {"name": "everything", "permissions": [perm("litellm.delete_virtualkey").pk]},
    )
    assert response.status_code == 200 and b"only permissions you hold yourself" in response.content
    assert not Group.objects.filter(name="everything").exists()
