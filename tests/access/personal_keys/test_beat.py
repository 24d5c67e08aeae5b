"""The beat: entries created by bootstrap, due steps handed to the right network queue, people
whose LibreChat account is ready given their key, stale messages moved to the right queue."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from portal.access import key_steps, personal_keys
from portal.access.models import PersonalKey
from portal.core.schedules import schedule_named, schedules_ensure
from tests.access.personal_keys.support import drive, make_pairing, make_ready_person

pytestmark = pytest.mark.django_db


QUEUES = ("net.backend-dev", "net.backend-chat")


@pytest.fixture
def sent(redis_url: str) -> Iterator[Callable[[], list[tuple[dict[str, Any], str]]]]:
    """The messages really sent to Redis, per queue (no worker consumes these queues here)."""
    broker = redis.Redis.from_url(redis_url)
    broker.delete(*QUEUES)

    def read() -> list[tuple[dict[str, Any], str]]:
        out = []
        for queue in QUEUES:
            for raw in broker.lrange(queue, 0, -1):
                message = json.loads(raw)
                _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                out.append((kwargs, queue))
        return out

    yield read
    broker.delete(*QUEUES)


def test_it_creates_its_beat_entries_once() -> None:
    ours = (
        schedule_named("accounts: personal key steps due"),
        schedule_named("accounts: reconcile people's keys"),
    )
    assert schedules_ensure(ours) == [
        "beat entry 'accounts: personal key steps due' created",
        'beat entry "accounts: reconcile people\'s keys" created',
    ]
    assert "already there" in schedules_ensure(ours)[0]
    assert PeriodicTask.objects.get(task="access.personal_keys_due").interval.every == 30


def test_it_hands_due_steps_to_the_queue_of_the_server_they_talk_to(
    litellm_sim, chat_sim, sent, django_capture_on_commit_callbacks
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim, chat_network="backend-chat")
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person), until=lambda r: r.step == "push")
    PersonalKey.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        assert personal_keys.personal_keys_due() == 1

    assert sent() == [({"record_id": record.pk, "step": "push"}, "net.backend-chat")]
    record.refresh_from_db()
    assert record.next_attempt_at is not None and record.next_attempt_at > timezone.now()


def test_it_gives_a_key_to_people_whose_account_is_ready_but_who_have_none(
    litellm_sim, chat_sim, sent, django_capture_on_commit_callbacks
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    PersonalKey.objects.filter(person=person).delete()

    with django_capture_on_commit_callbacks(execute=True):
        personal_keys.personal_keys_due()

    record = PersonalKey.objects.get(person=person)
    assert record.step == "issue" and sent() == [
        ({"record_id": record.pk, "step": "issue"}, "net.backend-dev")
    ]


def test_it_moves_a_stale_message_to_the_queue_of_the_current_step(
    litellm_sim, chat_sim, sent, django_capture_on_commit_callbacks
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim, chat_network="backend-chat")
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person), until=lambda r: r.step == "push")

    with django_capture_on_commit_callbacks(execute=True):
        outcome = key_steps.personal_key_advance(record_id=record.pk, step="issue")

    assert outcome.outcome == "moved" and outcome.next_step == "push"
    assert sent() == [({"record_id": record.pk, "step": "push"}, "net.backend-chat")]
    assert litellm_sim.calls[("POST", "/key/generate")] == 1  # nothing done twice


def test_it_leaves_people_on_an_unpaired_librechat_server_alone(litellm_sim, chat_sim) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    pairing.delete()
    make_ready_person(pairing)
    assert not PersonalKey.objects.exists()
    assert personal_keys.people_start_missing() == 0
