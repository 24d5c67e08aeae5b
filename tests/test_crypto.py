from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import isolate_apps

from portal import crypto
from portal.crypto import DecryptionError, EncryptedTextField, Secret, keys_from_settings_values
from portal.startup import ConfigurationError

KEY_A = Fernet.generate_key()
KEY_B = Fernet.generate_key()


@pytest.fixture
def vault_model(transactional_db: None, settings) -> Iterator[type[models.Model]]:
    """A throwaway table with an encrypted column, created for real in PostgreSQL."""
    settings.FERNET_ACTIVE_KEYS = (KEY_A,)
    with isolate_apps("portal"):

        class Vault(models.Model):
            label = models.CharField(max_length=20)
            secret = EncryptedTextField()

            class Meta:
                app_label = "portal"

        with connection.schema_editor() as editor:
            editor.create_model(Vault)
        try:
            yield Vault
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Vault)


def test_it_round_trips_a_secret_and_stores_only_ciphertext(vault_model) -> None:
    row = vault_model.objects.create(label="a", secret="sk-plain-value-123456")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {vault_model._meta.db_table} WHERE id = %s", [row.pk])
        stored = cursor.fetchone()[0]
    assert "sk-plain" not in stored
    loaded = vault_model.objects.get(pk=row.pk)
    assert isinstance(loaded.secret, Secret)
    assert loaded.secret.reveal() == "sk-plain-value-123456"


def test_it_never_shows_plaintext_in_repr_or_str(vault_model) -> None:
    row = vault_model.objects.create(label="a", secret="sk-plain-value-123456")
    loaded = vault_model.objects.get(pk=row.pk)
    for text in (repr(loaded.secret), str(loaded.secret), f"{loaded.secret}", repr(loaded.__dict__)):
        assert "sk-plain-value" not in text
    assert loaded.secret.masked() == "sk-...3456"


def test_full_clean_keeps_the_secret_not_its_mask(vault_model) -> None:
    row = vault_model(label="a", secret="sk-plain-value-123456")
    row.full_clean()
    row.save()
    assert vault_model.objects.get(pk=row.pk).secret.reveal() == "sk-plain-value-123456"


def test_it_stores_empty_and_none_as_null(vault_model) -> None:
    row = vault_model.objects.create(label="a", secret="")
    assert vault_model.objects.get(pk=row.pk).secret is None
    assert vault_model.objects.filter(secret__isnull=True).count() == 1


def test_it_saves_untouched_secrets_without_decrypting_them(vault_model, settings) -> None:
    row = vault_model.objects.create(label="a", secret="s3cret")
    settings.FERNET_ACTIVE_KEYS = (KEY_B,)  # could not decrypt now
    loaded = vault_model.objects.get(pk=row.pk)
    loaded.label = "b"
    loaded.save()  # must not need the key
    settings.FERNET_ACTIVE_KEYS = (KEY_A,)
    assert vault_model.objects.get(pk=row.pk).secret.reveal() == "s3cret"


def test_it_names_model_field_and_row_when_no_key_decrypts(vault_model, settings) -> None:
    row = vault_model.objects.create(label="a", secret="s3cret")
    settings.FERNET_ACTIVE_KEYS = (KEY_B,)
    loaded = vault_model.objects.get(pk=row.pk)
    with pytest.raises(DecryptionError) as caught:
        _ = loaded.secret
    assert f"Vault.secret of row pk={row.pk}" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_it_rotates_1000_rows_to_the_new_key_with_zero_loss(vault_model, settings) -> None:
    values = [f"secret-{i:04d}" for i in range(1000)]
    vault_model.objects.bulk_create(vault_model(label=str(i), secret=v) for i, v in enumerate(values))
    settings.FERNET_ACTIVE_KEYS = (KEY_B, KEY_A)  # new key first, old key still decrypts

    first = crypto.reencrypt_column(vault_model, vault_model._meta.get_field("secret"), batch_size=128)
    again = crypto.reencrypt_column(vault_model, vault_model._meta.get_field("secret"), batch_size=128)

    assert (first.rotated, first.already, first.failures) == (1000, 0, [])
    assert (again.rotated, again.already) == (0, 1000)  # re-running is harmless
    settings.FERNET_ACTIVE_KEYS = (KEY_B,)  # the old key is gone: everything still reads
    loaded = {row.label: row.secret.reveal() for row in vault_model.objects.all()}
    assert loaded == {str(i): v for i, v in enumerate(values)}


def test_it_reports_undecryptable_rows_and_rotates_the_rest(vault_model, settings) -> None:
    vault_model.objects.create(label="good", secret="one")
    settings.FERNET_ACTIVE_KEYS = (KEY_B,)
    bad = vault_model.objects.create(label="bad", secret="two")  # written with a key about to vanish
    settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(), KEY_A)
    result = crypto.reencrypt_column(vault_model, vault_model._meta.get_field("secret"), batch_size=1)
    assert result.rotated == 1
    assert len(result.failures) == 1 and f"pk={bad.pk}" in result.failures[0]


def test_the_command_runs_over_every_encrypted_column(db, capsys) -> None:
    call_command("rotate_encryption_keys", "--batch-size", "10")


@pytest.mark.parametrize(
    ("fernet_keys", "message"),
    [
        ("not-a-key", "FERNET_KEYS entry 1 of 1 is not a valid Fernet key"),
        (f"{KEY_A.decode()},,{KEY_B.decode()}", "FERNET_KEYS has an empty entry"),
        (f"{KEY_A.decode()},short", "FERNET_KEYS entry 2 of 2 is not a valid Fernet key"),
    ],
)
def test_it_rejects_malformed_key_lists_in_one_sentence(fernet_keys: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        keys_from_settings_values(
            fernet_keys=fernet_keys, librechat_encryption_key="", embedded_key_file=None
        )
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_it_takes_librechat_encryption_key_as_the_single_key_when_fernet_keys_is_unset() -> None:
    keys = keys_from_settings_values(
        fernet_keys="", librechat_encryption_key=KEY_A.decode(), embedded_key_file=None
    )
    assert keys == (KEY_A,)


def test_it_rejects_an_invalid_librechat_encryption_key() -> None:
    with pytest.raises(ConfigurationError, match="LIBRECHAT_ENCRYPTION_KEY is not a valid Fernet key"):
        keys_from_settings_values(fernet_keys="", librechat_encryption_key="hunter2", embedded_key_file=None)


def test_the_embedded_default_keeps_one_generated_key_across_restarts(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "fernet.key"
    first = keys_from_settings_values(fernet_keys="", librechat_encryption_key="", embedded_key_file=key_file)
    second = keys_from_settings_values(
        fernet_keys="", librechat_encryption_key="", embedded_key_file=key_file
    )
    assert first == second
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_a_secret_refuses_to_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))
