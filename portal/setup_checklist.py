"""The admin index's guided setup: what a newcomer does first, read from the real state.

Each step is done or not, says so in one sentence, and links to the page that completes it.
Read on every index render, so it costs a handful of small queries and never calls a vendor:
a LiteLLM server counts once its stored check (Test connection, or the beat's check) passed,
a worker counts once its heartbeat row is fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import Resolver404, resolve, reverse

from integrations.librechat.models import LibreChatServer
from integrations.litellm.models import CheckStatus, KeyPlan, LiteLLMServer
from portal.access.models import Pairing
from portal.accounts import services as accounts
from portal.accounts.models import SignupMode, SignupPolicy
from portal.connectivity.models import Network
from portal.connectivity.workers import worker_statuses


@dataclass(frozen=True)
class SetupStep:
    key: str  # a stable name, for the page's CSS and tests
    title: str
    done: bool
    sentence: str
    url: str
    link_text: str


@dataclass(frozen=True)
class SetupChecklist:
    steps: list[SetupStep]
    waiting_for_approval: int
    signup_closed: bool  # all done yet closed is not "ready for people": the heading says so

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)


def may_open(request: HttpRequest, url: str) -> bool:
    """Whether this staff member may open `url`, an admin add, change or list page, asked of the
    page's own ModelAdmin so its overrides count (the signup policy's add page, say), and a line
    they cannot follow gets no dead link to a 403."""
    try:
        match = resolve(url.split("?", 1)[0])
    except Resolver404:
        return False
    model_admin = getattr(match.func, "model_admin", None)  # set by ModelAdmin.get_urls' wrapper
    name = match.url_name or ""
    if model_admin is None:
        return False
    if name.endswith("_add"):
        return bool(model_admin.has_add_permission(request))
    if name.endswith("_change") or name.endswith("_changelist"):
        return bool(model_admin.has_view_or_change_permission(request))
    return False


def setup_checklist() -> SetupChecklist:
    policy = accounts.signup_policy_current()  # the one signup obeys, or the unsaved default
    return SetupChecklist(
        steps=[_litellm_step(), _librechat_step(), _pairing_step(), _signup_step(policy), _workers_step()],
        waiting_for_approval=accounts.people_waiting_for_approval().count(),
        signup_closed=policy.mode == SignupMode.CLOSED,
    )


def _when(moment: object) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _litellm_step() -> SetupStep:
    title = "A LiteLLM server that answers"
    # Once a pairing exists, people's keys come from its LiteLLM server, so that is the one that
    # must answer: another server passing Test connection (say a proxy only read for its models)
    # says nothing about where the keys are made. Before any pairing, any server may be the one.
    paired = LiteLLMServer.objects.filter(pairings__isnull=False).distinct()
    candidates = paired if paired.exists() else LiteLLMServer.objects.all()
    untested = candidates.exclude(check_status=CheckStatus.OK).order_by("pk").first()
    passed = candidates.filter(check_status=CheckStatus.OK).order_by("-checked_at").first()
    if passed is not None and (untested is None or candidates is not paired):
        return SetupStep(
            "litellm",
            title,
            True,
            f"{passed.name} passed Test connection ({_when(passed.checked_at)})"
            + (", and people's keys come from there." if candidates is paired else "."),
            reverse("admin:litellm_litellmserver_change", args=[passed.pk]),
            passed.name,
        )
    server = untested
    if server is None:
        return SetupStep(
            "litellm",
            title,
            False,
            "Add your LiteLLM proxy (its URL and master key), then press Test connection on its page.",
            reverse("admin:litellm_litellmserver_add"),
            "Add a LiteLLM server",
        )
    outcome = CheckStatus(server.check_status).label
    keys = " People's keys come from there." if candidates is paired else ""
    return SetupStep(
        "litellm",
        title,
        False,
        f"{server.name}: {outcome} (last tested {_when(server.checked_at)}).{keys} Open it and press "
        "Test connection; its page says what to fix.",
        reverse("admin:litellm_litellmserver_change", args=[server.pk]),
        f"Test {server.name}",
    )


def _librechat_step() -> SetupStep:
    title = "A LibreChat server"
    server = LibreChatServer.objects.order_by("pk").first()
    if server is None:
        return SetupStep(
            "librechat",
            title,
            False,
            "Add the LibreChat people chat in: its API as your worker reaches it, and its public URL.",
            reverse("admin:librechat_librechatserver_add"),
            "Add a LibreChat server",
        )
    url = reverse("admin:librechat_librechatserver_change", args=[server.pk])
    if not server.address_confirmed:
        return SetupStep(
            "librechat",
            title,
            False,
            f"{server.name}: its new address is not confirmed, so no one's login goes there yet.",
            url,
            server.name,
        )
    return SetupStep(
        "librechat",
        title,
        True,
        f"{server.name}: people's LibreChat accounts are made there.",
        url,
        server.name,
    )


def _pairing_step() -> SetupStep:
    title = "A pairing: which LiteLLM gives LibreChat's people their keys"
    pairing = Pairing.objects.select_related("librechat_server", "litellm_server").order_by("pk").first()
    if pairing is not None:
        return SetupStep(
            "pairing",
            title,
            True,
            f"People of {pairing.librechat_server.name} get their keys from {pairing.litellm_server.name}.",
            reverse("admin:access_pairing_change", args=[pairing.pk]),
            str(pairing),
        )
    if not KeyPlan.objects.exists():
        return SetupStep(
            "pairing",
            title,
            False,
            "First add a key plan (the models, budget and limits each person's key gets); "
            "then pair a LibreChat server with a LiteLLM server under that plan.",
            reverse("admin:litellm_keyplan_add"),
            "Add a key plan",
        )
    return SetupStep(
        "pairing",
        title,
        False,
        "Pair your LibreChat server with a LiteLLM server: people's keys come from there.",
        reverse("admin:access_pairing_add"),
        "Add a pairing",
    )


def _signup_step(policy: SignupPolicy) -> SetupStep:
    url = reverse("admin:accounts_signuppolicy_changelist")
    if policy.pk is None:
        return SetupStep(
            "signup",
            "Who may sign up",
            False,
            f"Signup: {SignupMode(policy.mode).label} (the default; no policy saved yet). Choose and save one.",
            url,
            "Signup policy",
        )
    sentence = f"Signup: {SignupMode(policy.mode).label}."
    if policy.mode == SignupMode.DOMAINS:
        sentence = f"Signup: {SignupMode(policy.mode).label} ({', '.join(sorted(policy.domains()))})."
    return SetupStep("signup", "Who may sign up", True, sentence, url, "Signup policy")


def _workers_step() -> SetupStep:
    title = "A worker heard on each network"
    networks = list(Network.objects.order_by("name"))
    if not networks:
        return SetupStep(
            "workers",
            title,
            False,
            "Add the Docker network your stack runs on; a worker attached to it runs its calls and checks.",
            reverse("admin:connectivity_network_add"),
            "Add a network",
        )
    statuses = worker_statuses(networks=networks)
    # Heard means a heartbeat: the dashboard gives a new network a grace period before it calls
    # its worker gone, but here "not heard yet" is the honest answer.
    silent = [n for n in networks if statuses[n.pk].stale or statuses[n.pk].last_seen is None]
    url = reverse("admin:connectivity_network_changelist")
    if not silent:
        names = ", ".join(network.name for network in networks)
        return SetupStep("workers", title, True, f"A worker answers on {names}.", url, "Networks")
    starts = "; ".join(f"celery -A portal worker -Q {network.queue}" for network in silent)
    return SetupStep(
        "workers",
        title,
        False,
        f"No worker heard lately on {', '.join(n.name for n in silent)}. Start one attached to each "
        f"network, consuming its queue: {starts}.",
        url,
        "Networks",
    )
