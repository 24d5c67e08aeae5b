"""The AI access models, made by portal.accounts (0003) and moved here: Django's state only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import portal.crypto


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_canonical_email_addresses"),
        ("librechat", "0002_server_address"),
        ("litellm", "0004_server_address"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # State only: the tables keep their names (Meta.db_table) and are not touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Pairing",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "endpoint_name",
                            models.CharField(
                                default="LiteLLM",
                                help_text="The `name` of the custom endpoint in librechat.yaml whose apiKey is user_provided.",
                                max_length=100,
                            ),
                        ),
                        (
                            "litellm_url_for_librechat",
                            models.CharField(
                                blank=True,
                                help_text="LiteLLM as LibreChat's containers reach it (service name and container port), e.g. http://litellm:4000. Empty: the LiteLLM server's own URL.",
                                max_length=500,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "default_plan",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="pairings",
                                to="litellm.keyplan",
                            ),
                        ),
                        (
                            "librechat_server",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="pairing",
                                to="librechat.librechatserver",
                            ),
                        ),
                        (
                            "litellm_server",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="pairings",
                                to="litellm.litellmserver",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "accounts_pairing",
                        "ordering": ("librechat_server__name",),
                    },
                ),
                migrations.CreateModel(
                    name="DriftFinding",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    (
                                        "orphan_key",
                                        "key in LiteLLM with the portal's marker but no person's key row",
                                    ),
                                    ("person_without_key", "person without a key"),
                                    ("key_missing", "key the portal holds that LiteLLM lacks"),
                                    ("chat_key_missing", "LibreChat user key missing"),
                                    ("chat_key_expired", "LibreChat user key expired"),
                                    ("blocked_but_active", "blocked in LiteLLM, active in the portal"),
                                    ("active_but_suspended", "active in LiteLLM, suspended in the portal"),
                                ],
                                max_length=30,
                            ),
                        ),
                        ("token_hash", models.CharField(blank=True, max_length=64)),
                        ("detail", models.TextField(blank=True)),
                        ("safe_to_repair", models.BooleanField(default=False)),
                        ("found_at", models.DateTimeField()),
                        ("fixed_at", models.DateTimeField(blank=True, null=True)),
                        ("fix_outcome", models.TextField(blank=True)),
                        (
                            "person",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "pairing",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="findings",
                                to="access.pairing",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "drift finding",
                        "db_table": "accounts_driftfinding",
                        "indexes": [
                            models.Index(fields=["pairing", "-id"], name="accounts_drift_pairing_id"),
                            models.Index(fields=["kind", "-id"], name="accounts_drift_kind_id"),
                            models.Index(fields=["fixed_at"], name="accounts_drift_fixed"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="PersonalKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("working", "being set up"),
                                    ("ready", "ready"),
                                    ("needs_attention", "needs attention"),
                                ],
                                default="working",
                                max_length=20,
                            ),
                        ),
                        (
                            "step",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("", "nothing to do"),
                                    ("issue", "make the key in LiteLLM"),
                                    ("push", "put the key into LibreChat"),
                                    ("verify_chat", "check LibreChat holds the key"),
                                    ("verify_key", "check LiteLLM has the key active"),
                                    ("block", "block the key"),
                                    ("unblock", "unblock the key"),
                                    ("update_limits", "apply the plan's limits"),
                                    ("rotate_issue", "rotation: make the new key"),
                                    ("rotate_push", "rotation: put the new key into LibreChat"),
                                    ("rotate_verify_chat", "rotation: check LibreChat holds the new key"),
                                    ("rotate_verify_key", "rotation: check LiteLLM has the new key"),
                                    ("rotate_delete_old", "rotation: delete the old key"),
                                    ("rotate_rename", "rotation: give the new key the stable alias"),
                                ],
                                default="",
                                max_length=30,
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "claimed_until",
                            models.DateTimeField(
                                blank=True,
                                help_text="A worker is on the step until then (a crashed one loses it then).",
                                null=True,
                            ),
                        ),
                        ("last_error", models.TextField(blank=True)),
                        (
                            "suspended",
                            models.BooleanField(
                                default=False, help_text="The person is deactivated: the key is blocked."
                            ),
                        ),
                        ("limits_applied", models.BooleanField(default=True)),
                        ("rotation_requested_at", models.DateTimeField(blank=True, null=True)),
                        ("rotation_due_at", models.DateTimeField(blank=True, null=True)),
                        ("pushed_at", models.DateTimeField(blank=True, null=True)),
                        ("verified_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "chat_expires_at",
                            models.CharField(
                                blank=True,
                                help_text="What LibreChat reports for the key: an ISO date or 'never'.",
                                max_length=40,
                            ),
                        ),
                        ("rotated_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "key",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="litellm.virtualkey",
                            ),
                        ),
                        (
                            "next_key",
                            models.ForeignKey(
                                blank=True,
                                help_text="The replacement while a rotation is under way.",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="litellm.virtualkey",
                            ),
                        ),
                        (
                            "pairing",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="personal_keys",
                                to="access.pairing",
                            ),
                        ),
                        (
                            "person",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="personal_key",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "plan",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="personal_keys",
                                to="litellm.keyplan",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "personal key",
                        "db_table": "accounts_personalkey",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("step", ""), _negated=True),
                                fields=["next_attempt_at"],
                                name="accounts_pkey_due",
                            ),
                            models.Index(fields=["rotation_due_at"], name="accounts_pkey_rotation_due"),
                            models.Index(fields=["status", "-id"], name="accounts_pkey_status_id"),
                            models.Index(fields=["pairing", "-id"], name="accounts_pkey_pairing_id"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="PersonRemoval",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("email", models.EmailField(max_length=254)),
                        (
                            "librechat_password",
                            portal.crypto.EncryptedTextField(blank=True, editable=False, null=True),
                        ),
                        (
                            "key_hashes",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="The LiteLLM keys deleted with the person.",
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("working", "being removed"),
                                    ("done", "removed"),
                                    ("staff", "staff must finish it"),
                                ],
                                default="working",
                                max_length=10,
                            ),
                        ),
                        (
                            "step",
                            models.CharField(
                                default="keys", help_text="keys, then librechat, then done.", max_length=20
                            ),
                        ),
                        ("detail", models.TextField(blank=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "librechat_server",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="librechat.librechatserver",
                            ),
                        ),
                        (
                            "litellm_server",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="litellm.litellmserver",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "person removal",
                        "db_table": "accounts_personremoval",
                        "indexes": [
                            models.Index(fields=["status", "next_attempt_at"], name="accounts_removal_due")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
