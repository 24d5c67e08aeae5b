"""Where does this worker process run: on the Docker host, or in a container?

The diagnosis depends on it (`127.0.0.1` is the host itself, or the container itself), and
only the process that probes can tell: the settings mode says nothing (the embedded default
may run in a container, compose's worker may use `network_mode: host`). So the worker reads
what it sees, network facts first because the diagnosis is about the network it shares:

1. a Linux bridge in its network namespace (docker0, br-...): it shares the Docker host's
   network, where containers hang off those bridges: on the host;
2. every interface that is up, besides loopback, has its link in another namespace (the
   `iflink != ifindex` of a veth or macvlan end, how a container's eth0 looks): in a container;
3. `/.dockerenv` (Docker) or `/run/.containerenv` (Podman) exists: in a container;
4. its cgroup names a container runtime (docker, containerd, kubepods, libpod, lxc): in a container;
5. its hosts file names host.docker.internal / host.containers.internal, which only a
   container is given (compose's `extra_hosts: host-gateway`, Podman): in a container;
6. otherwise: on the host.

`python -m portal.connectivity.location` prints the verdict of the process that runs it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

CONTAINER_FILES = ("/.dockerenv", "/run/.containerenv")
_CGROUP_RUNTIME = re.compile(r"docker|containerd|kubepods|libpod|lxc")
_HOST_GATEWAY_NAMES = ("host.docker.internal", "host.containers.internal")


@dataclass(frozen=True)
class LocationFacts:
    """What a process sees of its surroundings (read by `gather`, decided by `decide`)."""

    bridges: tuple[str, ...] = ()
    uplinks: tuple[str, ...] = ()  # up, non-loopback interfaces
    linked_uplinks: tuple[str, ...] = ()  # those whose link lives in another namespace
    container_files: tuple[str, ...] = ()
    container_cgroups: tuple[str, ...] = ()
    host_gateway_names: tuple[str, ...] = ()  # in the hosts file

    @classmethod
    def gather(cls) -> LocationFacts:
        bridges, uplinks, linked = [], [], []
        for interface in sorted(Path("/sys/class/net").glob("*")):
            if (interface / "bridge").is_dir():
                bridges.append(interface.name)  # docker0 is down while no container runs
                continue
            if interface.name == "lo" or _read(interface / "operstate") == "down":
                continue
            uplinks.append(interface.name)
            if _read(interface / "iflink") != _read(interface / "ifindex"):
                linked.append(interface.name)
        hosts = _read(Path("/etc/hosts"))
        names = {name for line in hosts.splitlines() for name in line.partition("#")[0].split()[1:]}
        return cls(
            bridges=tuple(bridges),
            uplinks=tuple(uplinks),
            linked_uplinks=tuple(linked),
            container_files=tuple(f for f in CONTAINER_FILES if Path(f).exists()),
            container_cgroups=tuple(
                line.split(":", 2)[-1]
                for line in _read(Path("/proc/self/cgroup")).splitlines()
                if _CGROUP_RUNTIME.search(line.split(":", 2)[-1])
            ),
            host_gateway_names=tuple(n for n in _HOST_GATEWAY_NAMES if n in names),
        )


@dataclass(frozen=True)
class WorkerLocation:
    in_container: bool
    reason: str

    @property
    def sentence(self) -> str:
        return f"{'in a container' if self.in_container else 'on the host'}: {self.reason}"


def decide(facts: LocationFacts) -> WorkerLocation:
    if facts.bridges:
        return WorkerLocation(
            False, f"its network holds the bridge {', '.join(facts.bridges)} that containers hang off"
        )
    if facts.uplinks and facts.linked_uplinks == facts.uplinks:
        return WorkerLocation(
            True, f"{', '.join(facts.uplinks)} is one end of a veth pair, as a container's network is"
        )
    if facts.container_files:
        return WorkerLocation(True, f"{facts.container_files[0]} is present")
    if facts.container_cgroups:
        return WorkerLocation(True, f"its cgroup is {facts.container_cgroups[0]}")
    if facts.host_gateway_names:
        return WorkerLocation(True, f"its hosts file names {facts.host_gateway_names[0]}")
    return WorkerLocation(False, "no container bridge, veth uplink or container marker seen")


@functools.cache
def this_process() -> WorkerLocation:
    """The verdict for the running process: read once, a process does not move."""
    return decide(LocationFacts.gather())


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


if __name__ == "__main__":
    facts = LocationFacts.gather()
    print(json.dumps({**asdict(decide(facts)), "facts": asdict(facts)}))
