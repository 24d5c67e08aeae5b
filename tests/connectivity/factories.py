"""Rows for the connectivity tests: a network of our own (never the seeded ones) and targets."""

from __future__ import annotations

import itertools
from typing import Any

from portal.connectivity.models import Expectation, Network, Target, TargetNetwork

_numbers = itertools.count(1)


def make_network(name: str | None = None, **fields: Any) -> Network:
    # These tests run in the machine's own namespace: a worker "on the host" that guesses no
    # names, so a failing check never sends a DNS query off the machine.
    fields.setdefault("worker_location", "host")
    fields.setdefault("guess_alternatives", False)
    return Network.objects.create(name=name or f"lab-{next(_numbers)}", **fields)


def make_target(
    address: str, *networks: Network, expect: str = Expectation.REACHABLE, **fields: Any
) -> Target:
    fields.setdefault("name", f"target {next(_numbers)}")
    fields.setdefault("timeout_seconds", 2.0)
    target = Target(address=address, **fields)
    target.full_clean()
    target.save()
    for network in networks:
        TargetNetwork.objects.create(target=target, network=network, expect=expect)
    return target


def placement(target: Target, network: Network) -> TargetNetwork:
    return TargetNetwork.objects.get(target=target, network=network)
