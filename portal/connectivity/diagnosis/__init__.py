"""Diagnosis: from a probe outcome and where it ran, one sentence and the fix.

Pure: no I/O. The classes follow the Docker mistakes the seeds ran into: `localhost` inside a
container, `host.docker.internal` missing on Linux, a host service bound to 127.0.0.1, a LAN
address that times out from a container, an address on another Docker network, a name that
points at an address nobody holds, a CDN answering 403 for an internal call, a wrong health path.

By topic: `context` (where the probe ran, every network known), `kinds`, `base` (the facts),
`answers` (a service that answered wrongly), `diagnoser` (reaching it at all, and `diagnose`).
"""

from portal.connectivity.diagnosis.context import HOST_GATEWAY_NAME, IPNetwork, KnownNetwork, NetworkContext
from portal.connectivity.diagnosis.diagnoser import diagnose
from portal.connectivity.diagnosis.kinds import Diagnosis, DiagnosisKind

__all__ = [
    "HOST_GATEWAY_NAME",
    "Diagnosis",
    "DiagnosisKind",
    "IPNetwork",
    "KnownNetwork",
    "NetworkContext",
    "diagnose",
]
