"""Staff stay within their own permissions in the people and group admin.

Django's admin lets anyone with "change user" tick superuser on themselves, grant any
permission or group, and set a superuser's password: "change user" was in effect every power.
Here, without superuser status:
- `is_superuser` and `is_staff` are read-only;
- a permission may be granted or taken away only by someone who holds it, a group only by
  someone holding every permission of the group (taking away what you do not hold is as much
  beyond you as granting it);
- the row of a superuser, or of anyone holding a permission you do not, cannot be changed,
  given a new password or deleted, alone or in bulk (else: set their password, log in as them).
  Permissions are read from the tables, not `get_all_permissions()`, which answers nothing for
  a suspended account that could then be reactivated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from portal.accounts.models import User

PRIVILEGE_FLAGS = ("is_superuser", "is_staff")


def _labels(permissions: QuerySet[Permission]) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in permissions.values_list("content_type__app_label", "codename")
    }


def permissions_of(user: Any) -> set[str]:
    """Every permission a user holds directly or through a group, active or not."""
    return _labels(Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct())


def group_permissions(group: Group) -> set[str]:
    return _labels(group.permissions.all())


def is_limited(staff: Any) -> bool:
    return not staff.is_superuser


def may_touch_person(staff: Any, person: User) -> bool:
    if not is_limited(staff):
        return True
    return not person.is_superuser and permissions_of(person) <= permissions_of(staff)


def may_touch_group(staff: Any, group: Group) -> bool:
    return not is_limited(staff) or group_permissions(group) <= permissions_of(staff)


def people_beyond(staff: Any, people: QuerySet[User]) -> list[str]:
    """The addresses among `people` whose rows `staff` may not touch, in a few queries for any batch."""
    if not is_limited(staff):
        return []
    held = permissions_of(staff)
    beyond = set(people.filter(is_superuser=True).values_list("email", flat=True))
    for via in ("user", "group__user"):
        rows = Permission.objects.filter(**{f"{via}__in": people}).values_list(
            f"{via}__email", "content_type__app_label", "codename"
        )
        beyond.update(email for email, app, codename in rows if f"{app}.{codename}" not in held)
    return sorted(beyond)


def refuse_untouchable_people(
    request: HttpRequest, model_admin: admin.ModelAdmin, people: QuerySet[User]
) -> bool:
    """For a bulk action: True (and an error message) when a selected row is beyond the staff member."""
    refused = people_beyond(request.user, people)
    if refused:
        model_admin.message_user(
            request,
            f"Nothing done: {', '.join(refused)} hold(s) more than you do, so their rows are not yours to change.",
            messages.ERROR,
        )
    return bool(refused)


def _changed(before: Iterable[Any], after: Iterable[Any]) -> set[Any]:
    return set(before) ^ set(after)


def limit_permission_fields(form_class: type[forms.ModelForm], *, staff: Any) -> type[forms.ModelForm]:
    """The admin form, refusing changes of `groups` / `user_permissions` / `permissions` beyond `staff`."""
    if not is_limited(staff):
        return form_class
    held = permissions_of(staff)

    class LimitedForm(form_class):  # type: ignore[valid-type,misc]
        def clean(self) -> dict[str, Any]:
            cleaned: dict[str, Any] = super().clean()
            instance = self.instance
            for name in ("user_permissions", "permissions"):
                if name in self.fields and name in cleaned:
                    before = getattr(instance, name).all() if instance.pk else []
                    beyond = sorted(
                        str(p)
                        for p in _changed(before, cleaned[name])
                        if f"{p.content_type.app_label}.{p.codename}" not in held
                    )
                    if beyond:
                        self.add_error(
                            name,
                            "You may grant or take away only permissions you hold yourself, "
                            f"not: {'; '.join(beyond)}.",
                        )
            if "groups" in self.fields and "groups" in cleaned:
                before = instance.groups.all() if instance.pk else []
                beyond = sorted(
                    g.name for g in _changed(before, cleaned["groups"]) if not group_permissions(g) <= held
                )
                if beyond:
                    self.add_error(
                        "groups",
                        "You may add or remove only groups whose permissions you hold yourself, "
                        f"not: {', '.join(beyond)}.",
                    )
            return cleaned

    LimitedForm.__name__ = form_class.__name__
    return LimitedForm


class StaffLimitedUserAdmin:
    """Mixed into the people admin (before Django's UserAdmin)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if is_limited(request.user):
            fields += tuple(f for f in PRIVILEGE_FLAGS if f not in fields)
        return fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        return limit_permission_fields(form, staff=request.user)

    # Django's password-change and delete views (single and the bulk delete action) ask these
    # with the row, so one rule covers them all.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed: bool = super().has_change_permission(request, obj)  # type: ignore[misc]
        return allowed and (obj is None or may_touch_person(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed: bool = super().has_delete_permission(request, obj)  # type: ignore[misc]
        return allowed and (obj is None or may_touch_person(request.user, obj))


class GroupAdmin(DjangoGroupAdmin):
    """Django's group admin, where a group's permissions change only within the editor's own."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return limit_permission_fields(form, staff=request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and (
            obj is None or may_touch_group(request.user, obj)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or may_touch_group(request.user, obj)
        )


admin.site.unregister(Group)
admin.site.register(Group, GroupAdmin)
