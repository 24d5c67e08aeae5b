"""integrations/http.py from inside a network namespace, where name resolution is real and
local (`hosts: files`): a name that is not on the network fails at once as a DNS error."""

from __future__ import annotations

import json
import sys

import pytest

from tests.netns import NetnsLab, require_netns

pytestmark = pytest.mark.netns

CALL = """
import json, sys
from integrations.http import VendorHTTP, VendorError
api = VendorHTTP(vendor="LiteLLM", base_url=sys.argv[1], connect_timeout=1, read_timeout=1)
try:
    api.request("GET", "/health/liveliness")
    print(json.dumps({"ok": True}))
except VendorError as e:
    print(json.dumps({"kind": str(e.kind), "retryable": e.retryable, "message": str(e)}))
"""


def call_from(lab: NetnsLab, namespace: str, url: str) -> dict[str, object]:
    result = lab.exec(namespace, [sys.executable, "-c", CALL, url])
    return json.loads(result.stdout)


def test_it_calls_an_unknown_service_name_a_dns_failure() -> None:
    require_netns()
    with NetnsLab() as lab:
        worker = lab.container("backend-dev")
        answer = call_from(lab, worker, "http://litellm:4000")
    assert answer["kind"] == "dns" and answer["retryable"] is True
    assert "Could not resolve the host name 'litellm'" in str(answer["message"])
    assert "not on a network where that name exists" in str(answer["message"])


def test_it_reaches_a_service_by_its_name_on_the_same_network() -> None:
    require_netns()
    with NetnsLab() as lab:
        service = lab.add_service(
            "backend-dev", "litellm", 4000, responses={"/health/liveliness": (200, '"I\'m alive!"')}
        )
        worker = lab.container("backend-dev")
        assert service.address is not None
        lab.hosts_entry(worker, "litellm", service.address)
        answer = call_from(lab, worker, "http://litellm:4000")
    assert answer == {"ok": True}
