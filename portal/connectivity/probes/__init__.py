"""Probes: one fresh connection per check, so name resolution, connect and TLS are seen.

Nothing here is pooled or retried: a probe answers "what happens to a new client right now,
from where this process runs", which a pooled session (kept-alive sockets, cached addresses,
automatic retries) would hide. `run_probe` never raises; every failure comes back as a
`ProbeOutcome` with an `ErrorKind` and a sentence that names the address.

The package by topic: `spec` (what to check, what was seen), `presets` (known services),
`attempt` (one run's deadline, resolve and connect), `tls`, `http`, `postgres`, `redis`, and
`runner` (`run_probe`). The names below are its public face.
"""

from portal.connectivity.probes.presets import PRESETS, Preset, spec_from_preset
from portal.connectivity.probes.runner import run_probe
from portal.connectivity.probes.spec import (
    DEFAULT_TIMEOUT,
    EXCERPT_CHARS,
    MAX_BODY_BYTES,
    USER_AGENT,
    ErrorKind,
    Phase,
    ProbeKind,
    ProbeOutcome,
    ProbeSpec,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXCERPT_CHARS",
    "MAX_BODY_BYTES",
    "PRESETS",
    "USER_AGENT",
    "ErrorKind",
    "Phase",
    "Preset",
    "ProbeKind",
    "ProbeOutcome",
    "ProbeSpec",
    "run_probe",
    "spec_from_preset",
]
