"""Run one probe job inside a network namespace: `ip netns exec NS python -m tests.netns_job`.

Reads a JSON job on stdin (see NetnsLab._run_job) and prints the JSON answer, so that the
probe runs where its traffic starts, with that namespace's routes and /etc/hosts.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

from portal.connectivity.alternatives import find_working_address
from portal.connectivity.diagnosis import NetworkContext
from portal.connectivity.probes import ProbeSpec, run_probe


def context_to_dict(context: NetworkContext) -> dict[str, Any]:
    return {
        "network": context.network,
        "subnet": str(context.subnet) if context.subnet else None,
        "gateway": context.gateway,
        "in_container": context.in_container,
        "expect_reachable": context.expect_reachable,
        "host_addresses": list(context.host_addresses),
    }


def context_from_dict(data: dict[str, Any]) -> NetworkContext:
    subnet = ipaddress.ip_network(data["subnet"]) if data["subnet"] else None
    return NetworkContext(**{**data, "subnet": subnet, "host_addresses": tuple(data["host_addresses"])})


def answer(job: dict[str, Any]) -> Any:
    spec = ProbeSpec.from_dict(job["spec"], password=job.get("password"))
    if job["op"] == "probe":
        return run_probe(spec).to_dict()
    if job["op"] == "find_working_address":
        context = context_from_dict(job["context"])
        results = find_working_address(spec, context, job["extra_hosts"], timeout=job["timeout"])
        return [[candidate.to_dict(), outcome.to_dict()] for candidate, outcome in results]
    raise ValueError(f"unknown job {job['op']!r}")


if __name__ == "__main__":
    json.dump(answer(json.load(sys.stdin)), sys.stdout)
