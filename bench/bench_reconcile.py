"""Reconcile of 10,000 people: wall time, database queries, and HTTP calls to LiteLLM.

    make bench        (or: scripts/with-test-services .venv/bin/python -m bench reconcile)

10,000 people with a ready LibreChat account and an issued key, their keys in the LiteLLM
simulator (plus 500 keys the portal does not manage), and 40 drifts planted: 10 stray keys with
the portal's marker, 10 keys blocked by hand, 10 keys LiteLLM lost, 10 people without a key.
The goal: LiteLLM read page by page (about keys / 100 list calls, plus one confirmation per
lost key), and a number of queries that does not grow with the number of people.
"""

from __future__ import annotations

import math
import os
import time

from bench import size

PEOPLE = size(10_000, 300)
STRANGERS = size(500, 50)
DRIFT_EACH = 10
# portal_bench is one database for everyone's runs: this run's rows carry its own name.
PREFIX = f"bench-reconcile-{os.getpid()}"
MASTER = "sk-bench-reconcile-master-0123456789"


def _clean() -> None:
    from integrations.librechat.models import LibreChatAccount, LibreChatServer
    from integrations.litellm.models import KeyPlan, LiteLLMServer, VirtualKey
    from portal.access.models import DriftFinding, Pairing, PersonalKey
    from portal.accounts.models import User

    DriftFinding.objects.filter(pairing__litellm_server__name=PREFIX).delete()
    PersonalKey.objects.filter(pairing__litellm_server__name=PREFIX).delete()
    Pairing.objects.filter(litellm_server__name=PREFIX).delete()
    VirtualKey.objects.filter(server__name=PREFIX).delete()
    LibreChatAccount.objects.filter(server__name=PREFIX).delete()
    # Bench people have nothing left pointing at them by now: skip the per-person removal hook
    # (it exists for real deletions) and delete them in one statement.
    people = User.objects.filter(email__startswith=PREFIX)
    people._raw_delete(people.db)
    LibreChatServer.objects.filter(name=PREFIX).delete()
    LiteLLMServer.objects.filter(name=PREFIX).delete()
    KeyPlan.objects.filter(name=PREFIX).delete()


def run() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from integrations.librechat.models import AccountStatus, LibreChatAccount, LibreChatServer
    from integrations.litellm.client import abbreviate_key, generate_raw_key, hash_token
    from integrations.litellm.models import KeyPlan, KeyStatus, LiteLLMServer, VirtualKey
    from portal.access import reconcile
    from portal.access.models import Pairing, PersonalKey, PersonalKeyStatus
    from portal.accounts.models import User
    from tests.simulators.litellm import LiteLLMSimulator

    _clean()
    sim = LiteLLMSimulator(master_key=MASTER, seed=6)
    sim.start()
    try:
        now = timezone.now()
        litellm_server = LiteLLMServer(name=PREFIX, base_url=sim.base_url, network="backend-dev")
        litellm_server.master_key = MASTER
        litellm_server.save()
        chat_server = LibreChatServer.objects.create(name=PREFIX, api_url="http://librechat:3080")
        plan = KeyPlan.objects.create(name=PREFIX, max_budget=10, key_duration="90d")
        pairing = Pairing.objects.create(
            librechat_server=chat_server, litellm_server=litellm_server, default_plan=plan
        )
        people = User.objects.bulk_create(
            [
                User(email=f"{PREFIX}-{i}@example.com", password="!", email_verified_at=now, approved_at=now)
                for i in range(PEOPLE)
            ],
            batch_size=2000,
        )
        LibreChatAccount.objects.bulk_create(
            [
                LibreChatAccount(
                    person=p,
                    server=chat_server,
                    email=p.email,
                    name="Bench Person",
                    status=AccountStatus.READY,
                )
                for p in people
            ],
            batch_size=2000,
        )
        with_key = people[DRIFT_EACH:]  # the first ten have no key: "person without a key"
        raws = [generate_raw_key() for _ in with_key]
        keys = VirtualKey.objects.bulk_create(
            [
                VirtualKey(
                    server=litellm_server,
                    key_alias=f"portal-person-{p.pk}",
                    owner=p.email,
                    token_hash=hash_token(raw),
                    key_name=abbreviate_key(raw),
                    status=KeyStatus.ACTIVE,
                    metadata={"managed_by": "portal", "portal_person_id": p.pk},
                )
                for p, raw in zip(with_key, raws, strict=True)
            ],
            batch_size=2000,
        )
        PersonalKey.objects.bulk_create(
            [
                PersonalKey(pairing=pairing, plan=plan, person=p, key=k, status=PersonalKeyStatus.READY)
                for p, k in zip(with_key, keys, strict=True)
            ],
            batch_size=2000,
        )
        lost = set(range(DRIFT_EACH))
        blocked = set(range(DRIFT_EACH, 2 * DRIFT_EACH))
        for i, (person, raw) in enumerate(zip(with_key, raws, strict=True)):
            if i in lost:
                continue
            sim.add_key(
                raw,
                key_alias=f"portal-person-{person.pk}",
                user_id=person.email,
                blocked=i in blocked,
                metadata={"managed_by": "portal", "portal_person_id": person.pk},
            )
        for i in range(DRIFT_EACH):
            sim.add_key(metadata={"managed_by": "portal", "portal_person_id": 10_000_000 + i})
        sim.seed_keys(STRANGERS, key_alias="stranger-{i}")
        listed = sim.key_count()
        sim.reset_calls()

        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            report = reconcile.pairing_reconcile(pairing_id=pairing.pk)
            wall = time.perf_counter() - started
        calls = sum(sim.calls.values())
        pages = math.ceil(listed / 100)
        found = sum(report.findings.values())
        print(
            f"reconcile: people={PEOPLE} litellm_keys={listed} wall_s={wall:.2f} queries={len(queries)} "
            f"litellm_http_calls={calls} list_calls={report.list_calls} info_calls={report.info_calls} "
            f"findings={found} (goal list_calls == ceil(keys/100) = {pages}, "
            f"http_calls <= {pages + DRIFT_EACH}, queries not growing with people, findings = {4 * DRIFT_EACH})"
        )
        print(f"reconcile: {report}")
    finally:
        sim.stop()
        _clean()


if __name__ == "__main__":
    run()
