"""Every stored address in its canonical form (portal/accounts/addresses.py).

People whose addresses collide ("root@sec.test", and the same with a long s, are one address)
are never merged: a row already holding the canonical form keeps it, the others are left
exactly as they are and reported, as are rows whose address has no canonical form ("alice@x"
with a dotless i). Neither can log
in under the canonical form until staff change or delete them; the person with the canonical
row logs in as before. `email` stays unique, and now holds the canonical form.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import migrations

from portal.accounts.addresses import AddressRefused, canonical_email

log = logging.getLogger("portal.accounts.migrations")


def canonicalise_addresses(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("accounts", "User")
    Invitation = apps.get_model("accounts", "Invitation")
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pk, email in User.objects.order_by("pk").values_list("pk", "email").iterator():
        try:
            groups[canonical_email(email)].append((pk, email))
        except AddressRefused as refusal:
            log.warning("person %s: %r has no canonical form (%s); left as it is", pk, email, refusal)
    for canonical, rows in groups.items():
        if len(rows) == 1:
            pk, email = rows[0]
            if email != canonical:
                User.objects.filter(pk=pk).update(email=canonical)
            continue
        spelled = ", ".join(f"{pk}: {email!r}" for pk, email in rows)
        log.warning(
            "people %s are one address, %r: not merged; rows other than the one spelled %r are "
            "left as they are and cannot log in until staff change or delete them",
            spelled,
            canonical,
            canonical,
        )
    for pk, email in Invitation.objects.order_by("pk").values_list("pk", "email").iterator():
        try:
            canonical = canonical_email(email)
        except AddressRefused as refusal:
            log.warning("invitation %s: %r has no canonical form (%s); left as it is", pk, email, refusal)
            continue
        if canonical != email:
            Invitation.objects.filter(pk=pk).update(email=canonical)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_personal_keys"),
    ]

    operations = [
        migrations.RunPython(canonicalise_addresses, migrations.RunPython.noop, elidable=False),
    ]
