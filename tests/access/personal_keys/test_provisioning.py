"""The provisioning chain as explicit calls (portal/access/provisioning.py): a person cleared
for AI gets a LibreChat account and a wake-up for the access task, which provisions the
account and starts the key. Nothing climbs back up from the integration: LibreChat's own
provisioning alone leaves the key to the access beat's safety net."""

from __future__ import annotations

from unittest import mock

import pytest
from django.utils import timezone

from integrations.librechat import accounts as librechat_accounts
from integrations.librechat import provisioning as librechat_provisioning
from integrations.librechat.models import AccountStatus, LibreChatAccount
from portal.access import provisioning
from portal.access.models import PersonalKey
from portal.accounts import services as accounts
from portal.accounts.models import User
from tests.access.personal_keys.support import make_pairing

pytestmark = pytest.mark.django_db


def test_approving_a_verified_person_starts_the_chain_that_ends_in_their_key(
    litellm_sim, chat_sim, django_capture_on_commit_callbacks
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim, chat_network="backend-chat")
    person = User.objects.create_user(email="ann@example.com", password="portal pass 1")
    person.email_verified_at = timezone.now()
    person.save()
    assert not LibreChatAccount.objects.filter(person=person).exists()

    with mock.patch("portal.core.queues.wake") as wake, django_capture_on_commit_callbacks(execute=True):
        assert accounts.person_approve(person=person) is True
    account = LibreChatAccount.objects.get(person=person)
    assert account.server == pairing.librechat_server
    woken = [(c.args[0], c.kwargs["kwargs"], c.kwargs["queue"]) for c in wake.call_args_list]
    assert ("access.person_provision", {"account_id": account.pk}, "net.backend-chat") in woken

    result = provisioning.person_provision(account_id=account.pk)

    assert result.outcome == "done", result
    account.refresh_from_db()
    assert account.status == AccountStatus.READY
    assert PersonalKey.objects.get(person=person).step == "issue"


def test_librechat_making_an_account_ready_does_not_reach_up_into_access(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    now = timezone.now()
    person = User.objects.create_user(
        email="bob@example.com", password="portal pass 1", email_verified_at=now, approved_at=now
    )
    account = librechat_accounts.account_create(person=person, server=pairing.librechat_server)
    assert account is not None

    librechat_provisioning.account_provision(account_id=account.pk)

    account.refresh_from_db()
    assert account.status == AccountStatus.READY
    assert not PersonalKey.objects.filter(person=person).exists()
