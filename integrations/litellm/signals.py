"""Signals other apps listen to without this app importing them (DESIGN.md: litellm never
imports portal.accounts)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after LiteLLM accepted a new raw key for a row that keeps its secret (keep_secret):
# on creation and after a rotation. Arguments: key_id (int), action ("create" | "rotate").
# A receiver that hands the key on (e.g. into LibreChat) reads VirtualKey.raw_key itself.
key_secret_changed = Signal()
