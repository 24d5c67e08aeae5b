"""A broker that is down never fails the person's request: "Rotate now" commits its row and
answers; the beat hands the step to a worker once the broker is back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client
from django.utils import timezone

from portal.access import personal_keys
from portal.access.models import PersonalKey
from portal.celery import app
from tests.access.personal_keys.support import drive, key_of, make_pairing, make_ready_person


def _broker_to(url: str | None, write_url: str | None) -> None:
    """Point the web side's producer at `url`: drop the cached pools so the next publish
    opens a fresh connection (as a web process does after the broker went away)."""
    app.conf.update(broker_url=url, broker_write_url=write_url)
    # Celery keeps these private and untyped; resetting them is the only way to re-point them.
    # The pools are dropped, not closed: kombu shares them (by URI) with what runs after.
    setattr(app, "_pool", None)  # noqa: B010
    setattr(app.amqp, "_producer_pool", None)  # noqa: B010


@contextmanager
def broker_down(closed_port: int) -> Iterator[None]:
    # The raw settings, not the derived properties: `broker_write_url` is unset (it falls back
    # to `broker_url`), and must stay unset for the tests after this one that move the broker.
    original = (app.conf.get("broker_url"), app.conf.get("broker_write_url"))
    closed = f"redis://127.0.0.1:{closed_port}/0"  # nothing listens there
    _broker_to(closed, closed)
    try:
        yield
    finally:
        _broker_to(*original)


@pytest.mark.django_db(transaction=True)
def test_rotate_now_answers_and_the_beat_picks_the_step_up_when_the_broker_is_down(
    client: Client, litellm_sim, chat_sim, unused_tcp_port: int
) -> None:
    pairing = make_pairing(litellm_sim, chat_sim)
    person = make_ready_person(pairing)
    record = drive(PersonalKey.objects.get(person=person))
    old = key_of(record).token_hash  # the one engine rotates the key row in place
    client.force_login(person)

    with broker_down(unused_tcp_port):
        response = client.post("/me/key/rotate/")  # a real request: its on_commit wake-up runs

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.rotation_requested_at is not None and record.step  # committed, due
    # The beat, once the lease is over (the wake-up was lost), hands the step on.
    PersonalKey.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    assert personal_keys.personal_keys_due() == 1
    record = drive(record)
    assert key_of(record).token_hash != old and record.status == "ready"
