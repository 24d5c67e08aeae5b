"""The People list's denser columns: it fits a 1366 px screen beside the navigation and the
filters. The name rides under the address; active, verified and approved read as one state;
staff is a note under it; the dates themselves are on the person's page.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.accounts.models import User


@admin.display(description="person", ordering="email")
def person_column(person: User) -> SafeString:
    return format_html('{}<div class="cell-note">{}</div>', person.email, person.name)


def signup_state(person: User) -> str:
    if not person.is_active:
        return "deactivated"
    if person.email_verified_at is None:
        return "email not verified" if person.approved_at else "email not verified, not approved"
    if person.approved_at is None:
        return "waiting for approval"
    return "verified and approved"


@admin.display(description="state", ordering="approved_at")
def state_column(person: User) -> SafeString:
    # Staff is a note on the few rows it concerns, not a column of red ✖ on everyone else.
    role = "superuser" if person.is_superuser else "staff" if person.is_staff else ""
    return format_html(
        "{}{}", signup_state(person), format_html('<div class="cell-note">{}</div>', role) if role else ""
    )


@admin.display(description="joined", ordering="date_joined")
def joined_column(person: User) -> str:
    return f"{person.date_joined:%Y-%m-%d}"
