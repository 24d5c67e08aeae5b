"""Secrets at rest: Fernet keys (MultiFernet), the encrypted model field, and rotation.

FERNET_KEYS is a comma-separated list: the first key encrypts, every key decrypts, so adding
a new key in front and running `manage.py rotate_encryption_keys` re-encrypts every column
without downtime. LIBRECHAT_ENCRYPTION_KEY (the name the seeds' deployments use) is accepted
as the single key when FERNET_KEYS is unset. The embedded default keeps a generated key in
var/ so a restart does not lose every secret.

Decrypted values come back as `Secret`, whose repr and str never show the plaintext: a
secret printed into a log line or an exception by accident stays masked. Call `.reveal()`
where the plaintext is really needed (an outbound request header, the one-time reveal page).
"""

from __future__ import annotations

import binascii
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.db import models

from portal.startup import ConfigurationError

__all__ = [
    "DecryptionError",
    "EncryptedTextField",
    "Secret",
    "decrypt",
    "encrypt",
    "encrypted_fields",
    "keys_from_settings_values",
]


class DecryptionError(Exception):
    """No configured key can decrypt a stored value. The message names where it lives."""


class Secret:
    """A plaintext secret that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self, keep: int = 4) -> str:
        """`sk-...ab12`: enough to recognise a key, never enough to use it."""
        value = self._value
        if len(value) <= keep * 3:
            return "…" * 3
        prefix = value[:3] if value.startswith("sk-") else ""
        return f"{prefix}...{value[-keep:]}"

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value, other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        # Pickling would silently copy the plaintext into caches or task queues.
        raise TypeError("Secret values are not picklable; pass ids, not secrets")


# --- Keys ------------------------------------------------------------------------------------


def _parse_key(raw: str, source: str) -> bytes:
    key = raw.strip().encode()
    try:
        Fernet(key)
    except (ValueError, binascii.Error):
        raise ConfigurationError(
            f"{source} is not a valid Fernet key (44 characters of URL-safe base64; make one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
        ) from None
    return key


def keys_from_settings_values(
    *, fernet_keys: str, librechat_encryption_key: str, embedded_key_file: Path | None
) -> tuple[bytes, ...]:
    """Resolve the active key list, or raise ConfigurationError with one sentence."""
    if fernet_keys.strip():
        parts = [p for p in fernet_keys.split(",")]
        if any(not p.strip() for p in parts):
            raise ConfigurationError("FERNET_KEYS has an empty entry; separate keys with single commas")
        return tuple(_parse_key(p, f"FERNET_KEYS entry {i} of {len(parts)}") for i, p in enumerate(parts, 1))
    if librechat_encryption_key.strip():
        return (_parse_key(librechat_encryption_key, "LIBRECHAT_ENCRYPTION_KEY"),)
    if embedded_key_file is None:
        raise ConfigurationError("FERNET_KEYS (or LIBRECHAT_ENCRYPTION_KEY) is required")
    if not embedded_key_file.exists():
        embedded_key_file.parent.mkdir(parents=True, exist_ok=True)
        embedded_key_file.write_bytes(Fernet.generate_key())
        embedded_key_file.chmod(0o600)
    return (_parse_key(embedded_key_file.read_text(), f"the key file {embedded_key_file}"),)


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def _active() -> MultiFernet:
    from django.conf import settings

    return _multifernet(tuple(settings.FERNET_ACTIVE_KEYS))


def encrypt(plaintext: str) -> str:
    return _active().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, where: str = "a stored value") -> str:
    try:
        return _active().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise DecryptionError(
            f"cannot decrypt {where}: no configured Fernet key matches "
            "(was a key removed from FERNET_KEYS before rotate_encryption_keys ran?)"
        ) from None


def is_encrypted_with_primary(token: str) -> bool:
    primary = Fernet(_active_keys()[0])
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _active_keys() -> tuple[bytes, ...]:
    from django.conf import settings

    return tuple(settings.FERNET_ACTIVE_KEYS)


def rotate_token(token: str, *, where: str) -> str:
    try:
        return _active().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(f"cannot decrypt {where}: no configured Fernet key matches") from None


# --- The model field -------------------------------------------------------------------------


class Ciphertext(str):
    """A Fernet token as read from the database, not yet decrypted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Ciphertext(...)"


class _EncryptedAttribute:
    """Decrypts on first access, so listing a million rows decrypts nothing."""

    def __init__(self, field: EncryptedTextField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        name = self.field.attname
        data = instance.__dict__
        if name not in data:  # a deferred field: load it like Django's DeferredAttribute
            instance.refresh_from_db(fields=[name])
        value = data[name]
        if isinstance(value, Ciphertext):
            where = f"{type(instance).__name__}.{name} of row pk={instance.pk}"
            value = Secret(decrypt(value, where=where))
            data[name] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        if value is None or isinstance(value, Secret | Ciphertext):
            instance.__dict__[self.field.attname] = value
        elif isinstance(value, str):
            instance.__dict__[self.field.attname] = Secret(value) if value else None
        else:
            raise TypeError(f"{self.field.attname} takes a str or Secret, not {type(value).__name__}")


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; the attribute reads as a `Secret`.

    Not searchable or sortable (each encryption is randomised): the only lookup is `isnull`.
    Empty strings store as NULL.
    """

    description = "Fernet-encrypted text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        setattr(cls, self.attname, _EncryptedAttribute(self))

    # Only `isnull` ("is there a secret?"). Any other lookup or transform on ciphertext is an
    # oracle: `?master_key__startswith=gAAA...` in an admin changelist reads a token out one
    # character at a time, and `exact` can never match a randomised encryption anyway. Refused
    # here, at the field, so no admin, filter or queryset can forget it.
    ALLOWED_LOOKUPS = frozenset({"isnull"})

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in self.ALLOWED_LOOKUPS:
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def to_python(self, value: Any) -> Any:
        # full_clean() passes the attribute through here: TextField's str() of a Secret is its
        # mask, which would then be stored in place of the secret.
        if isinstance(value, Secret):
            return value
        return super().to_python(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Ciphertext | None:
        return None if value is None else Ciphertext(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # The raw stored value, so saving a row never decrypts its untouched secrets.
        return model_instance.__dict__.get(self.attname)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, Ciphertext):
            return str.__str__(value)
        if isinstance(value, Secret):
            return encrypt(value.reveal())
        if isinstance(value, str):
            return encrypt(value)
        raise TypeError(f"cannot store {type(value).__name__} in an encrypted field")

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata / serializers get the ciphertext, never the plaintext.
        raw = obj.__dict__.get(self.attname)
        if isinstance(raw, Secret):
            return encrypt(raw.reveal())
        return "" if raw is None else str.__str__(raw)


@dataclass
class RotationResult:
    rotated: int = 0
    already: int = 0
    # Rows written by someone else between the read and the swap: read again and retried.
    skipped: int = 0
    failures: list[str] = dc_field(default_factory=list)


# A row that changes under the command this many times in a row is left for the next run.
SWAP_ATTEMPTS = 5


def reencrypt_column(
    model: type[models.Model], field: models.Field[Any, Any], *, batch_size: int
) -> RotationResult:
    """Re-encrypt one column with the primary key, in pk order, one transaction per batch.

    Each row is swapped only if it still holds the ciphertext that was read (compare-and-swap):
    a secret a worker writes meanwhile is never overwritten with the old value. Such a row is
    counted in `skipped`, read again and retried."""
    result = RotationResult()
    label = f"{model.__name__}.{field.attname}"
    manager = model._base_manager
    stored = {f"{field.attname}__isnull": True}
    last_pk: Any = None
    while True:
        rows = manager.exclude(**stored).order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        batch = list(rows.values_list("pk", field.attname)[:batch_size])
        if not batch:
            return result
        last_pk = batch[-1][0]
        for _ in range(SWAP_ATTEMPTS):
            changed = _reencrypt_rows(model, field, batch, result, label)
            if not changed:
                break
            result.skipped += len(changed)
            batch = list(manager.filter(pk__in=changed).exclude(**stored).values_list("pk", field.attname))
        else:
            result.failures += [
                f"{label} of row pk={pk} changed {SWAP_ATTEMPTS} times while being re-encrypted; run again"
                for pk, _token in batch
            ]


def _reencrypt_rows(
    model: type[models.Model],
    field: models.Field[Any, Any],
    rows: list[tuple[Any, str]],
    result: RotationResult,
    label: str,
) -> list[Any]:
    """Swap each row that still holds the token read; return the pks that changed meanwhile."""
    from django.db import connections, router, transaction

    using = router.db_for_write(model)
    quote = connections[using].ops.quote_name
    # Plain SQL, not a queryset filter: the comparison must not depend on which lookups the
    # encrypted field allows (none that read ciphertext out).
    swap = (
        f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608 - quoted names
        f"WHERE {quote(model._meta.pk.column)} = %s AND {quote(field.column)} = %s"
    )
    changed: list[Any] = []
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for pk, token in rows:
            if is_encrypted_with_primary(token):
                result.already += 1
                continue
            try:
                new_token = rotate_token(token, where=f"{label} of row pk={pk}")
            except DecryptionError as exc:
                result.failures.append(str(exc))
                continue
            cursor.execute(swap, [new_token, pk, str.__str__(token)])
            if cursor.rowcount == 1:
                result.rotated += 1
            else:
                changed.append(pk)
    return changed


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) pair holding encrypted data, for rotation."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field
