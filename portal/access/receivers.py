"""What happens to a person's AI access when the person row changes in the portal.

These are receivers of portal.accounts' own User model (accounts knows nothing of access,
which builds on it), connected in AccessConfig.ready. The one receiver of an integration's
signal is budget_mail's (a key crossed a budget threshold: its holder is mailed). The rest:
- cleared for AI (verified, approved, active): portal.access.provisioning starts the chain;
- deactivated: the key is blocked and the LibreChat session revoked; reactivated: unblocked;
- deleted: portal.access.removal keeps what the removal still needs before the row goes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save, pre_delete, pre_save

from integrations.librechat import sessions as librechat_sessions
from integrations.librechat.models import LibreChatAccount
from portal.access import budget_mail, personal_keys, provisioning
from portal.access.removal import person_removal_start
from portal.accounts.models import User


def connect() -> None:
    pre_save.connect(_person_before_save, sender=User, dispatch_uid="access.person_active_before")
    post_save.connect(_person_saved, sender=User, dispatch_uid="access.person_active_after")
    pre_delete.connect(_person_deleting, sender=User, dispatch_uid="access.person_removal")
    budget_mail.connect()  # a key crossed a budget threshold: its holder is mailed


def _person_before_save(sender: Any, instance: User, **kwargs: Any) -> None:
    """What the row held before this save: whether the person was active, and cleared for AI."""
    before = (
        User.objects.filter(pk=instance.pk).values("is_active", "email_verified_at", "approved_at").first()
        if instance.pk is not None
        else None
    )
    instance._was_active = before["is_active"] if before else None  # type: ignore[attr-defined]
    instance._was_cleared = bool(  # type: ignore[attr-defined]
        before and before["is_active"] and before["email_verified_at"] and before["approved_at"]
    )


def _person_saved(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if created:
        return  # a person made already cleared (staff, a bulk import) is provisioned by staff's action
    if instance.is_cleared_for_ai and not getattr(instance, "_was_cleared", False):
        provisioning.person_access_start(person=instance)
    was_active = getattr(instance, "_was_active", None)
    if was_active is not None and was_active != instance.is_active:
        person_activity_changed(person=instance)


def person_activity_changed(*, person: User) -> None:
    """Deactivation blocks the key and ends the LibreChat session; reactivation unblocks."""
    with transaction.atomic():
        personal_keys.personal_key_suspend(person=person, suspended=not person.is_active)
        if not person.is_active:
            account = LibreChatAccount.objects.select_related("server").filter(person=person).first()
            if account is not None:
                librechat_sessions.sessions_revoke(account=account)


def _person_deleting(sender: Any, instance: User, **kwargs: Any) -> None:
    person_removal_start(person=instance)
