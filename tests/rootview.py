"""Run a command that sees `/` with `/.dockerenv` present or absent, and nothing else changed.

    argv = [*root_view(dockerenv=True, at=tmp_path / "root"), "python", "-m", ...]

A private mount namespace (`unshare --mount`) gets a tmpfs root holding a bind mount of each
entry of the real `/` (directories with everything mounted below them, so sockets, /proc and
`ip netns exec`'s /etc/hosts stay the real ones), plus or minus `.dockerenv`; the command
runs chrooted there, in the same working directory. Nothing changes outside that namespace:
this is how a test shows a process the marker of a container, or hides the marker of the
container the suite itself may run in. Needs root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

MARKER = ".dockerenv"


def root_view(*, dockerenv: bool, at: Path) -> list[str]:
    """The argv prefix; `at` is an empty directory the caller creates and removes."""
    return [
        "unshare", "--mount", "--propagation", "private",
        sys.executable, "-m", "tests.rootview", "--dockerenv", "present" if dockerenv else "absent",
        "--at", str(at), "--",
    ]  # fmt: skip


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dockerenv", choices=("present", "absent"), required=True)
    parser.add_argument("--at", type=Path, required=True)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
    root: Path = options.at
    _mount("-t", "tmpfs", "tmpfs", str(root))
    for entry in os.scandir("/"):
        if entry.name == MARKER:
            continue
        inside = root / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), inside)
        elif entry.is_dir():
            inside.mkdir()
            _mount("--rbind", entry.path, str(inside))
        else:
            inside.touch()
            _mount("--bind", entry.path, str(inside))
    if options.dockerenv == "present":
        (root / MARKER).touch()
    cwd = os.getcwd()
    os.chroot(root)
    os.chdir(cwd)
    os.execvp(argv[0], argv)  # noqa: S606  (replacing this process is the point)


if __name__ == "__main__":
    main()
