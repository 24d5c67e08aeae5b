"""The key list's pending cells ask together: one request a tick for the whole page.

Keys pending on a server that refuses every connection (port 9), so the work stays in flight
and each cell says why; the answer's queries do not grow with the number of keys.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from integrations.litellm import key_work, keys
from integrations.litellm.models import LiteLLMServer, VirtualKey
from portal.accounts.models import User
from tests.litellm.conftest import MASTER

MANY = "admin:litellm_virtualkey_pending_many"


@pytest.fixture
def dead_server(db: None) -> LiteLLMServer:
    row = LiteLLMServer(name="litellm-gone", base_url="http://127.0.0.1:9", network="backend-dev")
    row.master_key = MASTER
    row.save()
    return row


@pytest.fixture
def staff(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="a long pass 123"))
    return client


def stuck(server: LiteLLMServer, count: int) -> list[VirtualKey]:
    made = [keys.key_create(server=server, alias=f"stuck-{i}", enqueue=False) for i in range(count)]
    for key in made:
        key_work.key_apply_pending(key_id=key.pk)  # refused: retried later, still pending
    return made


def queued(server: LiteLLMServer, count: int) -> list[VirtualKey]:
    """Keys waiting for a worker that never came (no heartbeat on their queue)."""
    return [keys.key_create(server=server, alias=f"queued-{i}", enqueue=False) for i in range(count)]


def parts(html: str) -> dict[int, str]:
    return {
        int(pk): inner for pk, inner in re.findall(r'<div data-refresh-for="(\d+)">(.*?)</div>', html, re.S)
    }


def test_the_list_cells_point_at_one_shared_answer(staff: Client, dead_server: LiteLLMServer) -> None:
    made = stuck(dead_server, 3)
    page = staff.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    many = reverse(MANY)
    for key in made:
        assert f'data-refresh-batch="{many}" data-refresh-id="{key.pk}"' in page
    assert '/pending/"' not in page.replace(f'"{many}"', "")  # no cell polls a key of its own


def test_one_answer_holds_every_cell_in_order_and_says_why_each_waits(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    made = stuck(dead_server, 3)
    ids = [made[2].pk, made[0].pk, made[1].pk]
    html = staff.get(reverse(MANY), {"ids": ",".join(map(str, ids))}).content.decode()
    assert [int(pk) for pk in re.findall(r'data-refresh-for="(\d+)"', html)] == ids
    for inner in parts(html).values():
        assert 'data-done="0"' in inner and "LiteLLM did not answer try 1" in inner


def test_a_key_done_or_gone_stops_its_cell(staff: Client, dead_server: LiteLLMServer) -> None:
    waiting, cancelled = stuck(dead_server, 2)
    keys.key_cancel_pending(key=cancelled)  # a creation given up: the row is removed
    assert not VirtualKey.objects.filter(pk=cancelled.pk).exists()
    html = staff.get(reverse(MANY), {"ids": f"{waiting.pk},{cancelled.pk}"}).content.decode()
    answer = parts(html)
    assert 'data-done="0"' in answer[waiting.pk]
    assert 'data-done="1"' in answer[cancelled.pk] and "removed from the portal" in answer[cancelled.pk]


def test_the_answer_costs_the_same_queries_for_two_keys_or_forty(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    made = queued(dead_server, 40)

    def queries_for(some: list[VirtualKey]) -> int:
        with CaptureQueriesContext(connection) as seen:
            response = staff.get(reverse(MANY), {"ids": ",".join(str(k.pk) for k in some)})
        answer = parts(response.content.decode())
        assert response.status_code == 200 and len(answer) == len(some)
        assert all("no worker heard" in inner and "title=" in inner for inner in answer.values())
        return len(seen)

    assert queries_for(made) == queries_for(made[:2])


@pytest.mark.parametrize(
    "ids",
    ["", ",", "1;DROP", "\uff11\uff12", "1,x", "-1", "9" * 19, ",".join(["1"] * 501)],
    ids=["empty", "comma", "sql", "fullwidth", "letter", "negative", "huge", "too-many"],
)
def test_a_malformed_list_of_ids_gets_a_sentence_not_a_500(staff: Client, ids: str) -> None:
    response = staff.get(reverse(MANY), {"ids": ids})
    assert response.status_code == 400
    assert "key numbers separated by commas" in response.content.decode()


def test_staff_without_the_view_permission_are_refused(dead_server: LiteLLMServer) -> None:
    (key,) = stuck(dead_server, 1)
    person = User.objects.create_user(email="helper@example.com", password="a long pass 123")
    User.objects.filter(pk=person.pk).update(is_staff=True)
    client = Client()
    client.force_login(person)
    assert client.get(reverse(MANY), {"ids": str(key.pk)}).status_code == 403
    person.user_permissions.add(Permission.objects.get(codename="view_virtualkey"))
    answer = parts(client.get(reverse(MANY), {"ids": str(key.pk)}).content.decode())
    assert 'data-done="0"' in answer[key.pk]


def test_a_visitor_is_sent_to_the_login(dead_server: LiteLLMServer) -> None:
    response = Client().get(reverse(MANY), {"ids": "1"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_refreshed_cell_is_drawn_as_the_list_first_drew_it(
    staff: Client, dead_server: LiteLLMServer
) -> None:
    """Short words, the reason as the title: a refresh must not make every row grow."""
    (key,) = stuck(dead_server, 1)
    page = staff.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    first = re.search(
        rf'data-refresh-id="{key.pk}" data-refresh-seconds="\d+">(.*?)</span></span>', page, re.S
    )
    assert first is not None
    refreshed = parts(staff.get(reverse(MANY), {"ids": str(key.pk)}).content.decode())[key.pk]
    assert refreshed == first.group(1) + "</span>"
    assert ">create pending</span>" in refreshed and "LiteLLM did not answer try 1" in refreshed
