"""What the portal knows about every network when it diagnoses one: built once per sweep
from the network rows (pins and what each worker reported) and the targets placed on them.

- the probing network's subnet, gateway and location: a pin wins, else the worker's report,
  else (before any report: a fresh database, a synchronous Check now) the probing process's
  own facts;
- every other network's subnets and who holds which address there, so an address on
  backend-prod is called that, and not "a LAN address";
- the clues the finder follows: the other targets' names on this network, the names this
  network's worker has in its hosts file, the addresses other workers report.

Two queries whatever the number of networks and targets.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from portal.connectivity.diagnosis import IPNetwork, KnownNetwork, NetworkContext
from portal.connectivity.diagnosis.context import ip
from portal.connectivity.facts import NetworkFacts, this_process_facts
from portal.connectivity.models import Network, TargetNetwork, WorkerLocationChoice
from portal.connectivity.probes import ProbeSpec

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


@dataclass(frozen=True)
class Neighbour:
    """Another target placed on the same network, by the host and port it is reached at."""

    name: str
    host: str
    port: int | None


@dataclass(frozen=True)
class NetworkKnowledge:
    context: NetworkContext  # expect_reachable: set per placement
    neighbours: tuple[Neighbour, ...] = ()
    reported_names: tuple[str, ...] = ()  # names in this network's worker's hosts file
    reported_addresses: tuple[str, ...] = ()  # addresses other networks' workers report
    facts_from: str = "report"  # "report", or "this process" before the worker's first report

    def neighbours_of(self, target_name: str) -> tuple[Neighbour, ...]:
        return tuple(n for n in self.neighbours if n.name != target_name)


def network_knowledge(
    *, network: Network, networks: Sequence[Network] | None = None, here: bool = False
) -> NetworkKnowledge:
    """`here`: the probing process is not the network's worker (a synchronous check from the
    web process): its own facts describe where the packets start, not the worker's report."""
    networks = list(networks) if networks is not None else list(Network.objects.all())
    placed = _placed_targets([n.pk for n in networks])
    facts = None if here else network.facts
    facts_from = "report"
    if facts is None:
        facts, facts_from = this_process_facts(), "this process"
    others = tuple(_known(other) for other in networks if other.pk != network.pk)
    context = NetworkContext(
        network=network.name,
        subnet=network.subnet_network or _first_subnet(facts),
        gateway=str(network.gateway) if network.gateway else facts.gateway,
        in_container=_in_container(network, facts),
        host_addresses=tuple(network.host_address_list),
        holders=_holders(network, facts),
        others=others,
        notes=tuple(network.pin_disagreements()),
        hosts_file=dict(facts.hosts),
    )
    neighbours = tuple(
        Neighbour(name, host, port)
        for name, host, port in placed[network.pk]
        if host and ip(host) is None and host.lower() not in _LOOPBACK_NAMES
    )
    names_by_port: dict[int, list[str]] = defaultdict(list)
    for neighbour in neighbours:
        if neighbour.port and neighbour.host not in names_by_port[neighbour.port]:
            names_by_port[neighbour.port].append(neighbour.host)
    context = replace(context, names_by_port={port: tuple(names) for port, names in names_by_port.items()})
    reported_addresses = [
        address
        for other in networks
        if other.pk != network.pk and other.facts is not None
        for address in (
            *(a for addrs in other.facts.hosts.values() for a in addrs),
            other.facts.gateway or "",
        )
        if address
    ]
    return NetworkKnowledge(
        context=context,
        neighbours=neighbours,
        reported_names=tuple(facts.hosts),
        reported_addresses=tuple(dict.fromkeys(reported_addresses)),
        facts_from=facts_from,
    )


def _placed_targets(network_ids: list[int]) -> dict[int, list[tuple[str, str, int | None]]]:
    """Per network: (target name, host, port) of the targets placed on it. One query."""
    placed: dict[int, list[tuple[str, str, int | None]]] = defaultdict(list)
    rows = TargetNetwork.objects.filter(network_id__in=network_ids).values_list(
        "network_id", "target__name", "target__address"
    )
    for network_id, name, address in rows:
        host, port = _host_port(address)
        placed[network_id].append((name, host, port))
    return placed


def _host_port(address: str) -> tuple[str, int | None]:
    try:
        spec = ProbeSpec.from_url(address)
    except ValueError:  # the admin refuses such an address; an old row may still hold one
        return "", None
    return spec.target_host, spec.target_port


def _known(network: Network) -> KnownNetwork:
    facts = network.facts
    subnets: tuple[IPNetwork, ...] = (network.subnet_network,) if network.subnet_network else ()
    if facts is not None:
        subnets += tuple(s for s in network.seen_subnets if s not in subnets)
    return KnownNetwork(name=network.name, subnets=subnets, holders=_holders(network, facts) if facts else {})


def _holders(network: Network, facts: NetworkFacts) -> dict[str, str]:
    """Address -> who holds it on `network`: the names in its worker's hosts file, the worker.

    A target given by address is not a holder: it says where someone expects a service,
    which is what the diagnosis is checking."""
    holders: dict[str, str] = {}
    for name, addresses in facts.hosts.items():
        for address in addresses:
            holders.setdefault(address, name)
    for address in facts.own_addresses:
        holders[address] = f"the worker on {network.name}"
    return holders


def _first_subnet(facts: NetworkFacts) -> IPNetwork | None:
    subnets = [ipaddress.ip_network(s) for s in facts.subnets]
    return next((s for s in subnets if s.version == 4), subnets[0] if subnets else None)


def _in_container(network: Network, facts: NetworkFacts) -> bool:
    """A pin, else the facts in use (the report, or this process's)."""
    if network.worker_location != WorkerLocationChoice.DETECT:
        return network.worker_location == WorkerLocationChoice.CONTAINER
    return facts.in_container
