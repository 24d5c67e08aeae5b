"""Every admin list action fed a forged selection answers with a sentence and does nothing:
never a 500 (portal/core/admin_selection.py). Found by attacking `make run`: "", "1;DROP" and a
number past the column's range made Django's own response_action raise in the ORM, on every
list; a fullwidth one (U+FF11) was read by int() as row 1."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from integrations.litellm.models import KeyStatus, LiteLLMServer, VirtualKey
from portal.accounts.models import User
from portal.core.admin_selection import REFUSED

pytestmark = pytest.mark.django_db

FULLWIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}  # "1" -> U+FF11
FORGED = ["", "1;DROP", "99999999999999999999999", "-99999999999999999999999", "\uff11", "1.5", "0x1"]


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x" * 20))
    return client


def test_every_list_action_refuses_a_forged_selection_with_a_sentence(staff: Client) -> None:
    request = staff.get("/admin/").wsgi_request
    tried = 0
    for model, model_admin in admin.site._registry.items():
        actions = [name for name in model_admin.get_actions(request) if name != "delete_selected"]
        if not actions:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for value in FORGED:
            # The first post asks for confirmation; post=yes is the one that would act.
            for extra in ({}, {"post": "yes"}):
                response = staff.post(url, {"action": actions[0], "_selected_action": [value], **extra})
                assert response.status_code == 302, (url, value, response.status_code)
                tried += 1
        followed = staff.get(url)
        assert REFUSED in followed.content.decode(), url
    assert tried > 100  # every list with actions was tried, not none


def test_a_fullwidth_digit_does_not_select_row_one(staff: Client) -> None:
    server = LiteLLMServer(name="litellm-sel", base_url="http://127.0.0.1:9", network="nowhere")
    server.master_key = "sk-master-0123456789abcdef"
    server.save()
    key = VirtualKey.objects.create(
        server=server, key_alias="only", token_hash="b" * 64, key_name="sk-...bbbb", status=KeyStatus.ACTIVE
    )
    url = reverse("admin:litellm_virtualkey_changelist")
    # Without the guard int("\uff11") is 1: the confirmation listed the key, ready for its Yes.
    forged = staff.post(
        url, {"action": "block_action", "_selected_action": [str(key.pk).translate(FULLWIDTH)]}
    )
    assert forged.status_code == 302 and REFUSED in staff.get(url).content.decode()
    # The same selection written in ASCII digits still reaches the action (its confirmation).
    asked = staff.post(url, {"action": "block_action", "_selected_action": [str(key.pk)]})
    assert asked.status_code == 200 and "only" in asked.content.decode()
