"""A Docker host in network namespaces, for tests that need real routing and name resolution.

    with NetnsLab() as lab:                         # networks backend-dev and backend-prod
        lab.add_service("backend-dev", "litellm", 4000, responses={"/health/liveliness": ...})
        lab.add_service("host", "ollama", 11434, listen="127.0.0.1")   # a service on the host
        lab.hosts_entry(lab.container("backend-dev"), "host.docker.internal",
                        lab.networks["backend-dev"].gateway)           # extra_hosts host-gateway
        outcome = lab.run_probe(lab.container("backend-dev"), spec)

Layout, all of it in namespaces this lab creates (nothing is added to the root namespace):
- `<prefix>-host` stands for the Docker host: one bridge per network holding the network's
  gateway address (.1), IP forwarding on, and `blackhole` policy rules between the networks'
  subnets, which is what Docker's DOCKER-ISOLATION chains do: traffic from one network to
  another is dropped silently, so the sender sees a timeout. Services "on the host" run here.
- each container is a namespace with `eth0`, a veth whose peer sits on its network's bridge,
  and a default route via the gateway.
- name resolution per namespace: `/etc/netns/<ns>/hosts` and `nsswitch.conf` (`hosts: files`),
  which `ip netns exec` bind-mounts over /etc, so an unknown name fails at once, and a name
  resolves only in namespaces on the network of its container, as with Docker's DNS.

Names carry a random prefix and subnets are drawn at random per lab (10.x.y.0/24), so two
runs never meet; `close()` (or leaving the `with`) kills the processes and deletes it all.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from portal.connectivity.diagnosis import NetworkContext
from portal.connectivity.probes import ProbeOutcome, ProbeSpec
from tests.netns_job import context_to_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
NETNS_ETC = Path("/etc/netns")
LAB_SERVER = Path(__file__).resolve().parent / "lab_server.py"
HOST = "host"  # add_service(HOST, ...) runs the service in the host namespace
COMMAND_TIMEOUT = 30


@functools.cache
def netns_unavailable_reason() -> str | None:
    """Why network namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespace tests need root (`ip netns add`)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"plcheck{secrets.token_hex(3)}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if added.returncode != 0:
        return f"`ip netns add` failed: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def require_netns() -> None:
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)


@dataclass
class LabNetwork:
    name: str
    subnet: ipaddress.IPv4Network
    bridge: str
    containers: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # container name -> address
    next_host: int = 2

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def allocate(self) -> str:
        address = str(self.subnet.network_address + self.next_host)
        self.next_host += 1
        return address


@dataclass(frozen=True)
class LabService:
    name: str
    network: str
    namespace: str
    address: str | None  # None for a service on the host: reach it through a gateway
    port: int
    process: subprocess.Popen[str]


class NetnsLab:
    def __init__(self, networks: Sequence[str] = ("backend-dev", "backend-prod")) -> None:
        self.prefix = f"pl{secrets.token_hex(3)}"
        self.host_ns = f"{self.prefix}-host"
        second = 200 + secrets.randbelow(50)
        third = secrets.randbelow(128) * 2
        self.networks: dict[str, LabNetwork] = {}
        for index, name in enumerate(networks):
            subnet = ipaddress.IPv4Network(f"10.{second}.{(third + index) % 256}.0/24")
            self.networks[name] = LabNetwork(name, subnet, bridge=f"br{index}")
        self._namespaces: list[str] = []
        self._processes: list[subprocess.Popen[str]] = []
        self._containers: dict[tuple[str, str], str] = {}
        self._veths = 0
        self._created_netns_etc = False
        self._isolated = False

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> NetnsLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _build(self) -> None:
        self._created_netns_etc = not NETNS_ETC.exists()
        self._add_namespace(self.host_ns)
        self._sysctl(self.host_ns, "net.ipv4.ip_forward=1")
        for network in self.networks.values():
            self._ip(self.host_ns, "link", "add", network.bridge, "type", "bridge")
            self._ip(
                self.host_ns,
                "addr",
                "add",
                f"{network.gateway}/{network.subnet.prefixlen}",
                "dev",
                network.bridge,
            )
            self._ip(self.host_ns, "link", "set", network.bridge, "up")
        self.set_isolation(True)
        for name in self.networks:
            self.add_container(name, "worker")

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
        self._processes.clear()
        # Deleting a namespace deletes its links: the veths, and with the host the bridges.
        for namespace in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._namespaces.clear()
        if self._created_netns_etc:
            with contextlib.suppress(OSError):
                NETNS_ETC.rmdir()

    @property
    def namespaces(self) -> list[str]:
        return list(self._namespaces)

    # -- building blocks ------------------------------------------------------------------

    def container(self, network: str, name: str = "worker") -> str:
        """The namespace of a container; every network starts with one called "worker"."""
        return self._containers[(network, name)]

    def add_container(self, network: str, name: str) -> str:
        """A namespace attached to `network`, resolving the names of that network."""
        lab_network = self.networks[network]
        namespace = f"{self.prefix}-{_slug(network)}-{_slug(name)}"
        address = lab_network.allocate()
        self._add_namespace(namespace)
        self._veths += 1
        veth = f"veth{self._veths}"
        self._ip(
            self.host_ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
            "netns", namespace,
        )  # fmt: skip
        self._ip(self.host_ns, "link", "set", veth, "master", lab_network.bridge, "up")
        self._ip(namespace, "addr", "add", f"{address}/{lab_network.subnet.prefixlen}", "dev", "eth0")
        self._ip(namespace, "link", "set", "eth0", "up")
        self._ip(namespace, "route", "add", "default", "via", lab_network.gateway)
        lab_network.names[name] = address
        for other in lab_network.containers:  # Docker DNS: names resolve within a network
            self.hosts_entry(other, name, address)
        lab_network.containers.append(namespace)
        for known, known_address in lab_network.names.items():
            self.hosts_entry(namespace, known, known_address)
        self._containers[(network, name)] = namespace
        return namespace

    def add_bare_namespace(self, name: str) -> str:
        """A namespace with loopback only: no bridge and no veth, so a process there can tell
        where it runs only from its files (/.dockerenv, its cgroup, its hosts file)."""
        namespace = f"{self.prefix}-{_slug(name)}"
        self._add_namespace(namespace)
        return namespace

    def add_service(
        self,
        network: str,
        name: str,
        port: int,
        kind: str = "http",
        listen: str = "0.0.0.0",
        responses: Mapping[str, Any] | None = None,
    ) -> LabService:
        """Start an HTTP server (canned `responses`) or a silent TCP listener ("tcp").

        On a network it runs in a container of its own called `name`; with network "host"
        it runs on the Docker host, where `listen="127.0.0.1"` makes it unreachable from
        the containers, as a host service bound to loopback is.
        """
        if network == HOST:
            namespace, address = self.host_ns, None
        else:
            namespace = self.add_container(network, name)
            address = self.networks[network].names[name]
        argv = [sys.executable, str(LAB_SERVER), "--kind", kind, "--host", listen]
        argv += ["--port", str(port), "--responses", json.dumps(responses or {})]
        process = self.spawn(namespace, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for_line(process, "ready", timeout=10)
        return LabService(name, network, namespace, address, port, process)

    def hosts_entry(self, namespace: str, name: str, address: str) -> None:
        # Appended in place: `ip netns exec` bind-mounts this very file (its inode) over
        # /etc/hosts, so replacing it by a rename would leave running processes on the old one.
        with open(NETNS_ETC / namespace / "hosts", "a") as hosts:
            hosts.write(f"{address} {name}\n")

    def blackhole(self, address: str) -> None:
        """Make the host drop traffic to `address` silently: senders time out."""
        self._ip(self.host_ns, "route", "add", "blackhole", f"{address}/32")

    def lan_address(self) -> str:
        """An address like the host's LAN address in the seeds (192.168.1.131), which the
        containers route to the host and the host drops: a timeout, as they saw."""
        address = f"192.168.{secrets.randbelow(254) + 1}.{secrets.randbelow(250) + 2}"
        self.blackhole(address)
        return address

    def unused_address(self, network: str) -> str:
        """An address in the network's subnet that no namespace holds."""
        return str(self.networks[network].subnet.network_address + 250)

    def set_isolation(self, isolated: bool) -> None:
        """Isolated (the default) drops traffic between the networks, as Docker does."""
        if isolated == self._isolated:
            return
        action = "add" if isolated else "del"
        pairs = [(a, b) for a in self.networks.values() for b in self.networks.values() if a != b]
        for preference, (source, target) in enumerate(pairs, start=100):
            self._ip(
                self.host_ns, "rule", action, "from", str(source.subnet), "to", str(target.subnet),
                "blackhole", "pref", str(preference),
            )  # fmt: skip
        self._isolated = isolated

    def context(self, network: str, *, expect_reachable: bool = True) -> NetworkContext:
        lab_network = self.networks[network]
        return NetworkContext(
            network=network,
            subnet=lab_network.subnet,
            gateway=lab_network.gateway,
            in_container=True,
            expect_reachable=expect_reachable,
        )

    # -- running things inside ------------------------------------------------------------

    def exec(
        self,
        namespace: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            cwd=REPO_ROOT,
        )

    def spawn(self, namespace: str, argv: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
        """Start a process in `namespace`; it is killed when the lab closes. `ip netns exec`
        execs the command, so the Popen's pid is the command itself."""
        popen.setdefault("cwd", REPO_ROOT)
        process: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv], text=True, **popen
        )
        self._processes.append(process)
        return process

    def run_probe(self, namespace: str, spec: ProbeSpec) -> ProbeOutcome:
        """`run_probe(spec)` from inside `namespace`."""
        answer = self._run_job(namespace, {"op": "probe"}, spec)
        return ProbeOutcome.from_dict(answer)

    def find_working_address(
        self,
        namespace: str,
        spec: ProbeSpec,
        context: NetworkContext,
        extra_hosts: Iterable[str] = (),
        *,
        timeout: float | None = None,
    ) -> list[tuple[ProbeSpec, ProbeOutcome]]:
        """`find_working_address(...)` from inside `namespace`."""
        job = {
            "op": "find_working_address",
            "context": context_to_dict(context),
            "extra_hosts": list(extra_hosts),
            "timeout": timeout,
        }
        answer = self._run_job(namespace, job, spec)
        return [
            (ProbeSpec.from_dict(s, password=spec.password), ProbeOutcome.from_dict(o)) for s, o in answer
        ]

    def _run_job(self, namespace: str, job: dict[str, Any], spec: ProbeSpec) -> Any:
        # The password travels on stdin, not argv, where `ps` would show it.
        job = {**job, "spec": spec.to_dict(), "password": spec.password}
        done = self.exec(namespace, [sys.executable, "-m", "tests.netns_job"], input=json.dumps(job))
        return json.loads(done.stdout)

    # -- plumbing -------------------------------------------------------------------------

    def _add_namespace(self, namespace: str) -> None:
        subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True)
        self._namespaces.append(namespace)
        folder = NETNS_ETC / namespace
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        (folder / "nsswitch.conf").write_text("hosts: files\n")
        self._ip(namespace, "link", "set", "lo", "up")

    def _ip(self, namespace: str, *args: str) -> None:
        done = subprocess.run(["ip", "-n", namespace, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ip -n {namespace} {' '.join(args)}: {done.stderr.strip()}")

    def _sysctl(self, namespace: str, setting: str) -> None:
        self.exec(namespace, ["sysctl", "-qw", setting])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _wait_for_line(process: subprocess.Popen[str], start: str, timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.05)
        if ready:
            line = process.stdout.readline()
            if line.startswith(start):
                return line
            if not line and process.poll() is not None:
                break
    stderr = process.stderr.read() if process.stderr and process.poll() is not None else ""
    raise RuntimeError(f"{process.args!r} did not print {start!r}: {stderr.strip()}")
