"""Re-encrypt every encrypted column with the first key of FERNET_KEYS.

Run after putting a new key in front of FERNET_KEYS; once it reports zero rows left on old
keys, the old key can be removed. Batched, skips values already on the first key, safe to
re-run or to interrupt, and safe beside running workers: a value is swapped only while it is
still the one read (a secret written meanwhile is read again, never overwritten). Rows no
configured key can decrypt are listed by model, field and pk, and the command exits
non-zero after finishing everything else.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.crypto import encrypted_fields, reencrypt_column


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the first FERNET_KEYS key (batched, re-runnable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        failures: list[str] = []
        for model, field in encrypted_fields():
            result = reencrypt_column(model, field, batch_size=batch_size)
            failures += result.failures
            self.stdout.write(
                f"{model._meta.label}.{field.name}: {result.rotated} re-encrypted, "
                f"{result.already} already on the first key, {len(result.failures)} undecryptable, "
                f"{result.skipped} written meanwhile (read again and retried)"
            )
        if failures:
            for line in failures:
                self.stderr.write(line)
            raise CommandError(f"{len(failures)} value(s) could not be decrypted with any configured key")
