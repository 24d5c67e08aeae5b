from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "People"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_end_librechat_session, dispatch_uid="accounts.end_librechat_session")


def _end_librechat_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Portal logout logs the person's LibreChat session out too (a task does the call)."""
    if user is None:
        return
    from portal.accounts.services import person_logged_out

    person_logged_out(person=user)
