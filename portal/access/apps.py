"""A person's AI access: pairing, personal keys, drift and removal, and the /me/ pages.

Builds on portal.accounts (the person) and on both integrations; accounts never imports it."""

from __future__ import annotations

from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "portal.access"
    label = "access"
    verbose_name = "AI access"

    def ready(self) -> None:
        from portal.access import receivers

        receivers.connect()
