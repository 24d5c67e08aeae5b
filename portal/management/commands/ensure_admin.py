"""Create the first admin when there is none (used by `make run`).

Takes DJANGO_SUPERUSER_EMAIL (or DJANGO_SUPERUSER_USERNAME) and DJANGO_SUPERUSER_PASSWORD
from the environment; without a password it generates one and prints it once, to the
terminal only (never to a log).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.accounts.addresses import AddressRefused, canonical_email


class Command(BaseCommand):
    help = "Create a superuser if none exists, printing a generated password once."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin already exists; nothing to do.")
            return
        email = (
            os.environ.get("DJANGO_SUPERUSER_EMAIL")
            or os.environ.get("DJANGO_SUPERUSER_USERNAME")
            or "admin@localhost"
        )
        try:
            email = canonical_email(email)
        except AddressRefused as refusal:
            raise CommandError(f"DJANGO_SUPERUSER_EMAIL: {refusal}") from None
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or ""
        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the admin {email}."))
        if generated:
            self.stdout.write(f"Its password (shown once, write it down): {password}")
