"""Probe, diagnose, find: the one way a check is explained, whoever asks (a network's sweep,
"Check now", a server's "Test connection").

Every probe runs at once; as soon as one fails its diagnosis is made and, when it should have
answered, the finder's candidates start (without the probe's credentials: they were entered
for its own address), all under the sweep's one deadline (sweep.run_sweep_with_finder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from portal.connectivity.alternatives import candidate_addresses, finding_sentence
from portal.connectivity.diagnosis import Diagnosis, diagnose
from portal.connectivity.knowledge import NetworkKnowledge, network_knowledge
from portal.connectivity.models import Network
from portal.connectivity.probes import ProbeOutcome, ProbeSpec
from portal.connectivity.sweep import run_sweep_with_finder

# A wrong guess among the alternatives should not cost a slow health check's full timeout.
ALTERNATIVE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    """One thing to check from the network, and what the finder may use for it."""

    spec: ProbeSpec
    expect_reachable: bool = True
    service_names: tuple[str, ...] = ()
    name: str = ""  # the target's own name: it is not its own neighbour


@dataclass(frozen=True)
class Explained:
    network: str
    outcome: ProbeOutcome
    diagnosis: Diagnosis
    tried: Sequence[tuple[ProbeSpec, ProbeOutcome]] = field(default_factory=list)

    @property
    def finding(self) -> str:
        """ "From backend-dev, http://litellm:4000/health/liveliness answers.", or ""."""
        return finding_sentence(self.network, self.tried)

    @property
    def fix(self) -> str:
        return f"{self.diagnosis.fix} {self.finding}".strip()


def explain_all(probes: Sequence[Probe], *, network: Network, here: bool = False) -> list[Explained]:
    """Explain every probe as seen from `network`; in the order given. `here`: the process
    running this is not the network's worker (a synchronous check from the web process), so
    its own facts describe where the packets start, whatever the worker reported."""
    if not probes:
        return []
    knowledge = network_knowledge(network=network, here=here)
    diagnoses: dict[int, Diagnosis] = {}

    def candidates_for(index: int, outcome: ProbeOutcome) -> list[ProbeSpec]:
        probe = probes[index]
        context = replace(knowledge.context, expect_reachable=probe.expect_reachable)
        diagnosis = diagnoses[index] = diagnose(probe.spec, outcome, context)
        if diagnosis.healthy or not probe.expect_reachable:
            return []
        return _candidates(probe, knowledge, network)

    outcomes, tried = run_sweep_with_finder([p.spec for p in probes], candidates_for)
    return [
        Explained(network.name, outcome, diagnoses[index], tried[index])
        for index, outcome in enumerate(outcomes)
    ]


def explain(
    spec: ProbeSpec, *, network: Network, here: bool = True, service_names: Sequence[str] = ()
) -> Explained:
    """One probe from `network`, explained: for a server's "Test connection"."""
    return explain_all([Probe(spec, service_names=tuple(service_names))], network=network, here=here)[0]


def _candidates(probe: Probe, knowledge: NetworkKnowledge, network: Network) -> list[ProbeSpec]:
    candidates = candidate_addresses(
        probe.spec,
        knowledge.context,
        network.alternative_host_list,
        service_names=probe.service_names,
        guess=network.guess_alternatives,
        neighbours=[(n.host, n.port) for n in knowledge.neighbours_of(probe.name)],
        reported_names=knowledge.reported_names,
        reported_addresses=knowledge.reported_addresses,
    )
    timeout = min(probe.spec.timeout, ALTERNATIVE_TIMEOUT_SECONDS)
    return [replace(c, timeout=timeout) for c in candidates]
