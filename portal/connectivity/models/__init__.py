"""Connectivity tables: networks, targets, where each target is checked from, the history.

A probe's result depends on where it runs, so a target is checked once per network it is
placed on (`TargetNetwork`), by the worker attached to that network. That row also holds the
current state and its "since", so the dashboard reads one row per cell and never the history.
"""

from portal.connectivity.models.alerts import (
    Alert,
    AlertChannel,
    AlertDelivery,
    CertificateWarning,
    MuteWindow,
)
from portal.connectivity.models.network import IPNetwork, Network, WorkerLocationChoice
from portal.connectivity.models.target import (
    CheckResult,
    Expectation,
    HourlyRollup,
    State,
    Target,
    TargetNetwork,
)

__all__ = [
    "Alert",
    "AlertChannel",
    "AlertDelivery",
    "CertificateWarning",
    "CheckResult",
    "Expectation",
    "HourlyRollup",
    "IPNetwork",
    "MuteWindow",
    "Network",
    "State",
    "Target",
    "TargetNetwork",
    "WorkerLocationChoice",
]
