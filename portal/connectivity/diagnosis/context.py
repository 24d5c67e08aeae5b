"""Where a probe ran, as the diagnosis knows it: the probing network's subnet, gateway and
location, and every other network's subnets and who holds which address there."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

HOST_GATEWAY_NAME = "host.docker.internal"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class KnownNetwork:
    """Another Docker network as its worker reported it: its subnets, and who holds which
    address there (the worker itself, the names in its hosts file, targets given by address)."""

    name: str
    subnets: tuple[IPNetwork, ...] = ()
    holders: Mapping[str, str] = field(default_factory=dict)  # address -> who holds it

    def holds(self, address: str | None) -> bool:
        found = ip(address or "")
        return found is not None and any(found in s for s in self.subnets if s.version == found.version)


@dataclass(frozen=True)
class NetworkContext:
    """Where a probe ran, and what its result should be.

    `host_addresses` are the Docker host's own addresses an admin lists for this network
    (its LAN address, say): a refusal there is a host service, a timeout there a LAN address
    the containers cannot use. `expect_reachable=False` marks an isolation check: the target
    must NOT answer from this network. `holders` are the addresses known to be in use on this
    network, `others` every other network known, `hosts_file` the names the worker's hosts
    file gives, and `notes` what the worker's own view says
    against an operator's pin (added to every failure's sentence).
    """

    network: str | None = None
    subnet: IPNetwork | None = None
    gateway: str | None = None
    in_container: bool = True
    expect_reachable: bool = True
    host_addresses: tuple[str, ...] = ()
    holders: Mapping[str, str] = field(default_factory=dict)
    others: tuple[KnownNetwork, ...] = ()
    notes: tuple[str, ...] = ()
    hosts_file: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the worker's names
    names_by_port: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # other targets' names

    @property
    def label(self) -> str:
        return self.network or ("this container's network" if self.in_container else "here")

    def network_holding(self, address: str | None) -> KnownNetwork | None:
        """The other network whose subnet `address` lies in, unless it is this network's too."""
        found = ip(address or "")
        if found is None or (self.subnet is not None and found in self.subnet):
            return None
        return next((other for other in self.others if other.holds(address)), None)

    def in_a_known_subnet(self, address: str | None) -> bool:
        found = ip(address or "")
        if found is None:
            return False
        return (self.subnet is not None and found in self.subnet) or self.network_holding(address) is not None


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# Private LAN ranges (RFC 1918, and IPv6 unique-local): where a Docker host's own LAN
# address lives. Not ipaddress's is_private, which also counts documentation ranges.
LAN_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def is_lan(text: str | None) -> bool:
    address = ip(text or "")
    return address is not None and any(address in n for n in LAN_NETWORKS)
