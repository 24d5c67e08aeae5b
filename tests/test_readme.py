"""The README is self-contained: every file it names is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# Top-level folders whose files the README may name; var/ is made at run time, not shipped.
SHIPPED = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")} - {"var"} | {".ci"}


def named_paths() -> list[str]:
    return [token for token in re.findall(r"`([^`\s]+)`", README) if "/" in token and "://" not in token]


def test_the_readme_points_to_nothing_outside_the_repository() -> None:
    # Paths beginning with "/" in the README are the portal's URLs (/me/, /healthz), not files.
    assert re.findall(r"\S*\.\./\S*|~/\S*|(?<![\w.])/(?:work|tmp|home|root|srv|opt)/\S*", README) == []


def test_every_repository_path_the_readme_names_exists() -> None:
    paths = [p for p in named_paths() if p.split("/")[0] in SHIPPED]
    assert len(paths) >= 5, paths  # the Layout section names the main folders
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert missing == []
