"""The virtual keys list's denser columns: it fits a 1366 px screen beside the navigation and
the filters. What a row needs at a glance stays (which key, its state, its spend, its last
use); owner and server ride under the alias, expiry and origin are on the row's page.

The state reads as a state: "active" or "blocked" (a boolean column drew a red ✖ on every
healthy key), or the row's status while it is being created, missing or deleted, with the
pending work and limits changed in LiteLLM underneath.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from integrations.litellm import drift
from integrations.litellm.admin.key_pages import pending_column
from integrations.litellm.models import KeyStatus, VirtualKey


@admin.display(description="key", ordering="key_alias")
def alias_column(key: VirtualKey) -> SafeString:
    return format_html(
        '{}<div class="cell-note">{}</div><div class="cell-note">{}</div>',
        key.key_alias or "(no alias)",
        key.owner or "no owner",
        key.server,
    )


def state_words(key: VirtualKey) -> tuple[str, str]:
    """(words, css class): "active" / "blocked" for a key LiteLLM holds, else its status."""
    if key.status == KeyStatus.ACTIVE:
        return ("blocked", "key-state-blocked") if key.blocked else ("active", "key-state-active")
    words = key.get_status_display()
    return (f"{words}, blocked" if key.blocked else words), "key-state-other"


@admin.display(description="state", ordering="blocked")
def state_column(key: VirtualKey) -> SafeString:
    words, css = state_words(key)
    # The pending note refreshes itself while work is in flight (key_pages.pending_column).
    pending = pending_column(key)
    notes = [str(d) for d in drift.drift_differences(key)]
    return format_html(
        '<span class="key-state {}">{}</span>{}{}',
        css,
        words,
        format_html('<div class="cell-note">{}</div>', pending) if pending else "",
        format_html_join("", '<div class="cell-note">{}</div>', ((n,) for n in notes if n)),
    )
