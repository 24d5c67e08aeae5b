from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction

User = get_user_model()


@pytest.mark.django_db
def test_it_logs_in_by_email_whatever_the_case() -> None:
    User.objects.create_user(email="Ann@Example.com", password="a long passphrase 1")
    assert authenticate(username="ann@example.COM", password="a long passphrase 1") is not None


@pytest.mark.django_db
def test_it_refuses_a_second_account_differing_only_in_case() -> None:
    User.objects.create_user(email="ann@example.com", password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="ANN@example.com", password="x")


@pytest.mark.django_db
def test_it_creates_superusers_with_email_only() -> None:
    admin = User.objects.create_superuser(email="root@example.com", password="x")
    assert admin.is_staff and admin.is_superuser and str(admin) == "root@example.com"
