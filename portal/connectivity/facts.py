"""What a worker sees of its network from inside: its addresses and subnets, the default
gateway, the resolver and search domains, the names its hosts file gives, and whether it runs
in a container.

Read from the files the kernel and the resolver keep (`/proc/net/route`, `/proc/net/if_inet6`,
`/etc/resolv.conf`, `/etc/hosts`), never from a tool (`ip` is missing from slim images). In a
network namespace (`docker run`, `ip netns exec`) those files are the namespace's own, so a
worker attached to a Docker network reports that network's subnet and gateway without anyone
typing them in. Django-free: the worker gathers, `network_facts` records (services elsewhere).

`python -m portal.connectivity.facts` prints what the process that runs it sees.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from portal.connectivity.location import LocationFacts, decide

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
_RTF_UP, _RTF_GATEWAY = 0x1, 0x2
# A hosts file can be long (ad blockers): what a worker reports is bounded.
MAX_HOSTS_NAMES = 200
# Facts change when containers are recreated, not between two probes of a sweep.
FACTS_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class InterfaceAddress:
    interface: str
    address: str
    subnet: str  # "10.201.4.0/24"


@dataclass(frozen=True)
class NetworkFacts:
    """One process's view of its network. Lists are sorted, so equal views compare equal."""

    addresses: tuple[InterfaceAddress, ...] = ()
    gateway: str | None = None
    resolvers: tuple[str, ...] = ()
    search_domains: tuple[str, ...] = ()
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> addresses
    in_container: bool = False
    location_reason: str = ""
    container_markers: tuple[str, ...] = ()  # /.dockerenv, /run/.containerenv, a runtime's cgroup
    hostname: str = ""

    @property
    def subnets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.subnet for a in self.addresses))

    @property
    def own_addresses(self) -> tuple[str, ...]:
        return tuple(a.address for a in self.addresses)

    @property
    def host_gateway_names(self) -> tuple[str, ...]:
        return tuple(n for n in ("host.docker.internal", "host.containers.internal") if n in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts"] = {name: list(addresses) for name, addresses in self.hosts.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkFacts:
        """Read back what a worker reported; anything malformed is dropped, never raised."""
        addresses = []
        for item in data.get("addresses") or ():
            try:
                addresses.append(
                    InterfaceAddress(
                        str(item["interface"]),
                        str(ipaddress.ip_address(item["address"])),
                        str(ipaddress.ip_network(item["subnet"], strict=False)),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        hosts = {
            str(name): tuple(str(a) for a in values)
            for name, values in dict(data.get("hosts") or {}).items()
            if isinstance(values, list | tuple)
        }
        return cls(
            addresses=tuple(addresses),
            gateway=_ip_or_none(data.get("gateway")),
            resolvers=tuple(str(r) for r in data.get("resolvers") or ()),
            search_domains=tuple(str(d) for d in data.get("search_domains") or ()),
            hosts=hosts,
            in_container=bool(data.get("in_container")),
            location_reason=str(data.get("location_reason") or ""),
            container_markers=tuple(str(m) for m in data.get("container_markers") or ()),
            hostname=str(data.get("hostname") or ""),
        )

    @property
    def sentence(self) -> str:
        """One line for the admin: what the worker sees."""
        where = "in a container" if self.in_container else "on the host"
        subnets = ", ".join(self.subnets) or "no subnet"
        gateway = self.gateway or "none"
        resolvers = ", ".join(self.resolvers) or "none"
        return f"{where}; subnets {subnets}; gateway {gateway}; resolvers {resolvers}"

    @classmethod
    def gather(cls, root: Path = Path("/")) -> NetworkFacts:
        """Read this process's view (`root` lets a test point at a tree of its own)."""
        routes = _routes(root / "proc/net/route")
        seen = LocationFacts.gather()
        location = decide(seen)
        resolvers, search = _resolv_conf(root / "etc/resolv.conf")
        return cls(
            addresses=tuple(
                sorted(
                    _ipv4_addresses(routes) + _ipv6_addresses(root / "proc/net/if_inet6"),
                    key=lambda a: (a.interface, a.address),
                )
            ),
            gateway=next((gw for dest, _, gw, _ in routes if dest == "0.0.0.0/0" and gw), None),
            resolvers=resolvers,
            search_domains=search,
            hosts=_hosts_names(root / "etc/hosts"),
            in_container=location.in_container,
            location_reason=location.reason,
            container_markers=seen.container_files + seen.container_cgroups,
            hostname=socket.gethostname(),
        )


_cache: dict[str, tuple[float, NetworkFacts]] = {}


def this_process_facts() -> NetworkFacts:
    """The running process's facts, read at most every FACTS_CACHE_SECONDS."""
    cached = _cache.get("facts")
    now = time.monotonic()
    if cached and now - cached[0] < FACTS_CACHE_SECONDS:
        return cached[1]
    facts = NetworkFacts.gather()
    _cache["facts"] = (now, facts)
    return facts


def _routes(path: Path) -> list[tuple[str, str, str | None, int]]:
    """(destination CIDR, interface, gateway or None, flags) from the kernel's IPv4 table."""
    routes = []
    for line in _read(path).splitlines()[1:]:
        columns = line.split()
        if len(columns) < 8:
            continue
        try:
            destination, gateway, flags, mask = (int(columns[i], 16) for i in (1, 2, 3, 7))
        except ValueError:
            continue
        if not flags & _RTF_UP:
            continue
        # The file holds addresses in the kernel's (little-endian) byte order.
        net = ipaddress.IPv4Network(
            (_le_address(destination), bin(mask).count("1")), strict=False
        ).with_prefixlen
        via = _le_address(gateway) if flags & _RTF_GATEWAY else None
        routes.append((net, columns[0], via, flags))
    return routes


def _le_address(value: int) -> str:
    return str(ipaddress.IPv4Address(struct.pack("<I", value)))


def _ipv4_addresses(routes: list[tuple[str, str, str | None, int]]) -> list[InterfaceAddress]:
    """Each interface's IPv4 address, with the on-link route that contains it as its subnet."""
    found = []
    for interface in dict.fromkeys(iface for _, iface, _, _ in routes):
        address = _interface_ipv4(interface)
        if address is None:
            continue
        on_link = [
            net
            for net, iface, via, _ in routes
            if iface == interface
            and via is None
            and ipaddress.ip_address(address) in ipaddress.ip_network(net)
        ]
        subnet = max(on_link, key=lambda n: ipaddress.ip_network(n).prefixlen, default=f"{address}/32")
        found.append(InterfaceAddress(interface, address, subnet))
    return found


def _interface_ipv4(interface: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def _ipv6_addresses(path: Path) -> list[InterfaceAddress]:
    """Global and unique-local IPv6 addresses (link-local ones say nothing about a network)."""
    found = []
    for line in _read(path).splitlines():
        columns = line.split()
        if len(columns) < 6 or columns[5] == "lo":
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(columns[0]))
        if address.is_link_local or address.is_loopback:
            continue
        subnet = ipaddress.IPv6Network((address, int(columns[2], 16)), strict=False)
        found.append(InterfaceAddress(columns[5], str(address), subnet.with_prefixlen))
    return found


def _resolv_conf(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    resolvers: list[str] = []
    search: list[str] = []
    for line in _read(path).splitlines():
        words = line.partition("#")[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            resolvers.append(words[1])
        elif words and words[0] in ("search", "domain"):
            search = words[1:]  # the last search/domain line wins, as in glibc
    return tuple(resolvers), tuple(search)


def _hosts_names(path: Path) -> dict[str, tuple[str, ...]]:
    """Name -> addresses from the hosts file, without the loopback names every file has."""
    names: dict[str, list[str]] = {}
    for line in _read(path).splitlines():
        words = line.partition("#")[0].split()
        if len(words) < 2 or _ip_or_none(words[0]) is None:
            continue
        if ipaddress.ip_address(words[0]).is_loopback:
            continue
        for name in words[1:]:
            addresses = names.setdefault(name.lower(), [])
            if words[0] not in addresses:
                addresses.append(words[0])
        if len(names) >= MAX_HOSTS_NAMES:
            break
    return {name: tuple(addresses) for name, addresses in sorted(names.items())}


def _ip_or_none(text: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


if __name__ == "__main__":
    print(json.dumps(NetworkFacts.gather().to_dict()))
