"""How a person gets their AI access, as the calls that make it happen, in order.

1. Signup: `portal.accounts.services.person_signup` (the signup policy, the person row, the
   verification mail).
2. The address is proven and staff (or the policy) let the person in:
   `accounts.services.person_email_proven` and `accounts.services.person_approve` set the
   timestamps. portal.accounts knows nothing of this app (access builds on accounts, never
   the other way round), so the moment a saved person is cleared for AI is seen by the
   receiver of accounts' own User model in `portal.access.receivers`, which calls:
3. `person_access_start` (here): the person's LibreChat account row
   (`integrations.librechat.accounts.account_create`) and a wake-up for
4. `person_provision` (here, task "access.person_provision" on the LibreChat server's network
   queue): LibreChat's provisioning service (`account_provision`: register, log in, keep the
   session) and, once it answers "ready",
5. `portal.access.personal_keys.personal_key_start`: the person's key record, whose steps
   (`portal.access.key_steps`) make the key in LiteLLM and put it into LibreChat
   (`integrations.librechat.user_keys.user_key_put`), then check both.

Accounts made ready by other paths (staff's "retry" or "provision everyone" in the admin,
LibreChat's own beat) get their key from the access beat's safety net,
`personal_keys.people_start_missing`.
"""

from __future__ import annotations

from integrations.librechat import accounts as librechat_accounts
from integrations.librechat import provisioning as librechat_provisioning
from integrations.librechat.models import AccountStatus, LibreChatAccount
from portal.access import personal_keys
from portal.accounts.models import User
from portal.core.queues import network_queue_name, wake_after_commit
from portal.core.work import Outcome, WorkResult


def person_access_start(*, person: User) -> LibreChatAccount | None:
    """A cleared person's LibreChat account row, and a worker woken to provision it and then
    start their key. Idempotent; None when the person is not cleared or no LibreChat server
    takes new accounts."""
    if not person.is_cleared_for_ai:
        return None
    existing = LibreChatAccount.objects.filter(person=person).exists()
    account = librechat_accounts.account_create(person=person)
    if account is not None and not existing:
        wake_after_commit(
            "access.person_provision",
            kwargs={"account_id": account.pk},
            queue=network_queue_name(account.server.network),
        )
    return account


def person_provision(*, account_id: int) -> WorkResult:
    """LibreChat's provisioning of the account, then the person's key once it is ready. The
    account row says what is due either way: LibreChat's beat retries a provisioning that did
    not finish, and the access beat starts a key this call could not."""
    outcome = librechat_provisioning.account_provision(account_id=account_id)
    account = LibreChatAccount.objects.select_related("person").filter(pk=account_id).first()
    if account is None:
        return WorkResult("person_provision", account_id, Outcome.GONE)
    if account.status != AccountStatus.READY:
        return WorkResult("person_provision", account_id, Outcome.RETRY, outcome.status)
    record = personal_keys.personal_key_start(person=account.person) if account.person.is_active else None
    detail = "key started" if record is not None else "ready; no key (no pairing for its server)"
    return WorkResult("person_provision", account_id, Outcome.DONE, detail)
