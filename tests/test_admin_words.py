"""Every admin page an operator reads spells vendor names and acronyms right.

Django builds labels from verbose_name with only the first letter capitalised ("tpm limit"
becomes "Tpm limit", "litellm version" becomes "Litellm version"), so a field or a model
without an explicit verbose_name quietly writes a vendor's name wrong. This walks every
registered admin's changelist and change form as a superuser, with a row of each kind, and
fails on the spellings an operator must never read.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from integrations.librechat.models import LibreChatAccount, LibreChatServer, LibreChatSession
from integrations.litellm.models import KeyPlan, LiteLLMModel, LiteLLMServer, VirtualKey
from portal.access.models import DriftFinding, DriftKind, Pairing, PersonalKey, PersonRemoval
from portal.accounts.models import Invitation, SignupPolicy, User
from portal.connectivity.models import Alert, AlertChannel, CheckResult, MuteWindow, Network, Target
from portal.models import OutgoingMail

pytestmark = pytest.mark.django_db

# Whole words only: "litellm" in a URL or a CSS class is a code name, not a word read.
WRONG = re.compile(
    r"\b(Litellm|Librechat|Tpm|Rpm|Url|Api|Tls|Dns|Http|Https|Json|Ip|Id|Ttl|Ssl)\b"
    # An acronym after a word, as a lowercased verbose_name leaves it ("Base url", "Model id").
    r"|(?<=[a-z] )(url|api|tpm|rpm|tls|dns|http|json|ip|id|ttl)\b(?![:/.@-])"
)
# Django's own pages for django_celery_beat and auth.Group are not ours to reword.
NOT_OURS = {"django_celery_beat", "auth"}


def visible_text(html: str) -> str:
    """What a person reads: tag contents and the attributes shown (title, placeholder, aria-label)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    shown = " ".join(re.findall(r'\b(?:title|placeholder|aria-label|value)="([^"]*)"', html))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html) + " " + shown)


def wrong_words(html: str) -> list[str]:
    text = visible_text(html)
    return sorted({text[max(0, m.start() - 30) : m.end() + 30].strip() for m in WRONG.finditer(text)})


@pytest.fixture
def rows(db: None) -> None:
    now = timezone.now()
    staff = User.objects.create_superuser(email="words@example.com", password="a long passphrase 1")
    person = User.objects.create_user(email="person@example.com", password="a long passphrase 2")
    SignupPolicy.objects.create()
    server = LiteLLMServer.objects.create(
        name="litellm-local", base_url="http://litellm:4000", master_key="sk-master", litellm_version="1.2.3"
    )
    plan = KeyPlan.objects.create(name="Standard", tpm_limit=1000, rpm_limit=10, max_budget=Decimal("5"))
    key = VirtualKey.objects.create(
        server=server,
        key_alias="person-key",
        key_name="sk-...ab12",
        status="active",
        tpm_limit=100,
        rpm_limit=5,
    )
    LiteLLMModel.objects.create(server=server, model_name="llama3", provider_model="ollama/llama3")
    chat = LibreChatServer.objects.create(
        name="LibreChat", api_url="http://librechat-api:3080", public_url="https://chat.example.com"
    )
    account = LibreChatAccount.objects.create(
        person=person, server=chat, email=person.email, name="Person", attempts=2, next_attempt_at=now
    )
    LibreChatSession.objects.create(
        account=account,
        access_expires_at=now + timedelta(minutes=15),
        refresh_expires_at=now + timedelta(days=7),
    )
    pairing = Pairing.objects.create(librechat_server=chat, litellm_server=server, default_plan=plan)
    PersonalKey.objects.create(
        person=person,
        pairing=pairing,
        plan=plan,
        key=key,
        attempts=1,
        next_attempt_at=now + timedelta(days=2),
    )
    DriftFinding.objects.create(pairing=pairing, kind=DriftKind.ORPHAN_KEY, found_at=now)
    PersonRemoval.objects.create(email="gone@example.com", litellm_server=server, librechat_server=chat)
    Invitation.objects.create(
        email="invited@example.com", plan=plan, invited_by=staff, expires_at=now + timedelta(days=3)
    )
    OutgoingMail.objects.create(kind="invitation", to=["invited@example.com"], subject="Your invitation")
    network = Network.objects.first() or Network.objects.create(name="backend-dev")
    target = Target.objects.first()
    assert target is not None  # seeded by the connectivity migrations
    CheckResult.objects.create(
        target=target, network=network, ok=False, answered=False, checked_at=now, diagnosis="No such name"
    )
    AlertChannel.objects.create(name="Ops mail", kind="email", email_to="ops@example.com")
    Alert.objects.create(
        kind=Alert.Kind.DOWN,
        network=network,
        target=target,
        message="down",
        created_at=now,
    )
    MuteWindow.objects.create(
        target=target, starts_at=now, ends_at=now + timedelta(hours=1), reason="upgrade"
    )


def admin_pages(superuser: User) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = superuser
    pages = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label in NOT_OURS:
            continue
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk]))
        if model_admin.has_add_permission(request):
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    for app_label in {m._meta.app_label for m in admin.site._registry} - NOT_OURS:
        pages.append(reverse("admin:app_list", args=[app_label]))
    return pages


def test_it_spells_vendor_names_and_acronyms_right_on_every_admin_page(rows: None) -> None:
    superuser = User.objects.get(email="words@example.com")
    client = Client()
    client.force_login(superuser)
    found: dict[str, list[str]] = {}
    walked = 0
    for url in admin_pages(superuser):
        response = client.get(url)
        assert response.status_code in (200, 302, 403), f"{url}: {response.status_code}"
        if response.status_code != 200:
            continue
        walked += 1
        bad = wrong_words(response.content.decode())
        if bad:
            found[url] = bad
    assert walked >= 45, f"only {walked} pages walked: the rows above no longer reach the change forms"
    assert not found, "wrong spellings an operator reads:\n" + "\n".join(
        f"{url}: {words}" for url, words in found.items()
    )


def test_it_notices_a_wrong_spelling() -> None:
    # The check itself: a label as Django would build it from a bare verbose_name.
    assert wrong_words("<label>Tpm limit:</label>") == ["Tpm limit:"]
    assert wrong_words("<th>Litellm version</th>") == ["Litellm version"]
    assert wrong_words('<a href="/admin/litellm/">LiteLLM</a> <label>TPM limit</label>') == []


def test_it_keeps_the_capitals_of_a_name_that_starts_a_message(rows: None) -> None:
    # Django's admin base template runs every message through |capfirst: "litellm-local: ..."
    # read "Litellm-local: ...". The portal's base_site shows messages as they were written.
    chat = LibreChatServer.objects.get()
    chat.name = "librechat-dev"
    chat.save()
    client = Client()
    client.force_login(User.objects.get(email="words@example.com"))
    response = client.post(
        reverse("admin:librechat_librechatserver_changelist"),
        {"action": "confirm_address", "_selected_action": [chat.pk], "post": "yes"},
        follow=True,
    )
    html = response.content.decode()
    assert (
        "librechat-dev: its address http://librechat-api:3080 on backend-dev was confirmed already." in html
    )
    assert "Librechat-dev" not in html


def test_the_keys_list_reads_a_state_not_a_red_cross(rows: None) -> None:
    key = VirtualKey.objects.get()
    VirtualKey.objects.create(
        server=key.server, key_alias="stopped", key_name="sk-...cd34", status="active", blocked=True
    )
    client = Client()
    client.force_login(User.objects.get(email="words@example.com"))
    html = client.get(reverse("admin:litellm_virtualkey_changelist")).content.decode()
    states = re.findall(r'<td class="field-state_column"><span class="key-state [\w-]+">([^<]+)</span>', html)
    assert sorted(states) == ["active", "blocked"]
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html


def test_the_people_list_reads_one_state_per_person(rows: None) -> None:
    person = User.objects.get(email="person@example.com")
    client = Client()
    client.force_login(User.objects.get(email="words@example.com"))
    html = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "email not verified, not approved" in html and '<div class="cell-note">superuser</div>' in html
    person.email_verified_at = timezone.now()
    person.save()
    assert "waiting for approval" in client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "icon-no.svg" not in html
