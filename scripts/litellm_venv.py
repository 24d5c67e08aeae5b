"""Is the real-proxy virtualenv the pinned LiteLLM? `make litellm-venv` asks before it builds,
so a venv left by another LiteLLM version is rebuilt, never used as is; the real-proxy test
fixture (tests/real_litellm.py) asks too.

    python3 scripts/litellm_venv.py VENV VERSION

exits 0 when VENV has `bin/litellm` and exactly LiteLLM VERSION installed, else 1 with the
reason on stderr. It reads the installed distribution's metadata (importing litellm would
take seconds); standard library only, so any python3 runs it before any venv exists.
"""

from __future__ import annotations

import sys
from pathlib import Path


def installed_versions(venv: Path) -> list[str]:
    """The versions of every `litellm` distribution installed in the venv (normally one)."""
    versions = []
    for metadata in sorted(venv.glob("lib/python*/site-packages/litellm-*.dist-info/METADATA")):
        headers: dict[str, str] = {}
        for line in metadata.read_text(errors="replace").splitlines():
            if not line:
                break  # the headers end at the first blank line; the description follows
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        if headers.get("name", "").lower() == "litellm" and headers.get("version"):
            versions.append(headers["version"])
    return versions


def stale_reason(venv: Path, pinned: str) -> str | None:
    """None when the venv runs LiteLLM `pinned`; otherwise why it must be (re)built."""
    if not (venv / "bin" / "litellm").is_file():
        return f"{venv} has no bin/litellm"
    versions = installed_versions(venv)
    if not versions:
        return f"{venv} has bin/litellm but no installed litellm distribution"
    if versions != [pinned]:
        return f"{venv} has LiteLLM {', '.join(versions)}, the pin is {pinned}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: litellm_venv.py VENV VERSION", file=sys.stderr)
        return 2
    reason = stale_reason(Path(argv[0]), argv[1])
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
