"""A wrong Fernet key, met over HTTP by the load balancer and by a script using the JSON API.

Item 16: with FERNET_KEYS not matching the stored secrets, /readyz answers 503 naming each
encrypted column it cannot read (and no value), the session endpoint answers a JSON 503 with a
sentence instead of an HTML 500, and every error under /api/ (404, 405, 500, DEBUG on or off) is
JSON while other paths keep their HTML pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import LiteLLMServer
from portal.crypto import encrypted_fields
from tests.security.test_people_access import PASSWORD, ready_person
from tests.simulators.librechat import LibreChatSimulator

pytestmark = pytest.mark.django_db
MASTER = "sk-wrong-key-test-master-0123456789"


@pytest.fixture
def librechat_sim() -> Iterator[LibreChatSimulator]:
    with LibreChatSimulator() as simulator:
        simulator.add_user("operator@example.com", "operator-password")
        yield simulator


def test_readiness_names_the_columns_a_wrong_key_cannot_read(client: Client, settings) -> None:
    server = LiteLLMServer(name="litellm-dev", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = MASTER
    server.save()
    assert client.get("/readyz").json()["checks"]["secrets"] == "ok"

    settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(),)  # another deployment's key pasted in
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["secrets"] == "down: FERNET_KEYS cannot decrypt LiteLLMServer.master_key"
    assert MASTER not in json.dumps(body)


def test_readiness_notices_the_newest_row_written_with_another_key(client: Client, settings) -> None:
    good = settings.FERNET_ACTIVE_KEYS
    for n in range(3):
        server = LiteLLMServer(name=f"litellm-{n}", base_url="http://127.0.0.1:9", network="backend-dev")
        server.master_key = MASTER
        if n == 2:  # a worker started with another deployment's key wrote the newest row
            settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(),)
        server.save()
    settings.FERNET_ACTIVE_KEYS = good
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "LiteLLMServer.master_key" in response.json()["checks"]["secrets"]


def test_the_session_endpoint_answers_json_when_the_key_is_wrong(
    librechat_sim: LibreChatSimulator, settings
) -> None:
    server = LibreChatServer.objects.create(
        name="librechat-api", api_url=librechat_sim.base_url, network="backend-dev"
    )
    person = ready_person("ann@example.com", server)
    browser = Client()
    browser.force_login(person)
    assert browser.get("/api/librechat/session").status_code == 200

    settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(),)
    response = browser.get("/api/librechat/session")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "cannot read its stored LibreChat credentials" in response.json()["error"]
    assert response["Cache-Control"] == "no-store"
    assert PASSWORD not in response.content.decode()


def test_an_unknown_api_path_or_a_wrong_method_answers_json_and_other_paths_keep_html(client: Client) -> None:
    response = client.get("/api/librechat/sessions")
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    response = client.post("/api/librechat/session")
    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed"} and response["Allow"] == "GET"
    page = client.get("/accounts/nowhere/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.security.boom_urls")
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_failing_api_endpoint_answers_json_500(settings, debug: bool) -> None:
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; it is logged for staff"}
    page = client.get("/boom/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_readiness_stays_ok_with_the_right_key_and_measures_cheap(client: Client) -> None:
    server = LiteLLMServer(name="litellm-dev", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = MASTER
    server.save()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["secrets"] == "ok"
    # One bounded query per column and end, plus the database check itself.
    assert len(queries) <= 2 * len(list(encrypted_fields())) + 1


def test_an_admin_page_that_needs_an_unreadable_secret_says_which_and_how_to_fix_it(settings) -> None:
    from portal.accounts.models import User

    server = LiteLLMServer(name="litellm-dev", base_url="http://127.0.0.1:9", network="backend-dev")
    server.master_key = MASTER
    server.save()
    admin = Client(raise_request_exception=False)
    admin.force_login(User.objects.create_superuser(email="root@example.com", password="a long passphrase 1"))
    settings.FERNET_ACTIVE_KEYS = (Fernet.generate_key(),)

    response = admin.get(f"/admin/litellm/litellmserver/{server.pk}/change/")

    assert response.status_code == 503
    page = response.content.decode()
    assert "A stored secret cannot be read" in page
    assert "LiteLLMServer" in page and "master_key" in page and "FERNET_KEYS" in page
    assert MASTER not in page
