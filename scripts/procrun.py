"""`make run`'s foreground supervisor: runs every process of a Procfile (web, worker, beat).

Why not honcho: when one process died, honcho stopped the others with "stopped (rc=1)" and
the reason scrolled away in the interleaved logs. Here the first process that stops on its
own ends the run with one line naming it, its exit code and its last error line; Ctrl-C (or
SIGTERM) stops all. The children stay in our process group, so whoever kills the group
(a terminal, a test's teardown) kills them all.

It also turns PORTAL_BIND / PORTAL_PORT into the web's address (PORTAL_ADDR) and warns in one
line when DEBUG is on and the address is not loopback.
"""

from __future__ import annotations

import collections
import ipaddress
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10
# The line that says why a process stopped: the last of its final lines that reads like an
# error (a Python exception name, Celery's "Unrecoverable error", runserver's "Error: ...").
ERROR_LINE = re.compile(r"[A-Za-z]*(Error|Exception)\b|Traceback|Unrecoverable|CRITICAL|FATAL|refused|in use")


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            entries.append((name.strip(), command.strip()))
    return entries


def web_address(bind: str, port: str) -> str:
    """runserver's addrport for PORTAL_BIND and PORTAL_PORT; one clear line when either is bad."""
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"make run: PORTAL_PORT must be a port number (1-65535), not {port!r}")
    if not bind or any(c.isspace() or c in "[]/" for c in bind):
        raise SystemExit(f"make run: PORTAL_BIND must be an address such as 127.0.0.1, not {bind!r}")
    return f"[{bind}]:{port}" if ":" in bind else f"{bind}:{port}"


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def debug_is_on() -> bool:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from portal.startup import load_settings_or_exit

    load_settings_or_exit()
    from django.conf import settings

    return bool(settings.DEBUG)


class Child:
    def __init__(self, name: str, command: str, width: int) -> None:
        self.name = name
        self.label = name.ljust(width)
        self.tail: collections.deque[str] = collections.deque(maxlen=50)
        self.process = subprocess.Popen(  # noqa: S602 - a Procfile line is a shell command by definition
            f"exec {command}",
            shell=True,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.reader = threading.Thread(target=self._relay, daemon=True)
        self.reader.start()

    def _relay(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {self.label} | {line}\n")
            sys.stdout.flush()

    def stopped(self, code: int) -> str:
        """One line: which process stopped, how, and the last error it printed."""
        self.reader.join(timeout=2)  # the last lines it wrote before exiting
        how = f"exit code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        lines = [line.strip() for line in self.tail if line.strip()][-15:]
        errors = [line for line in lines if ERROR_LINE.search(line)]
        if errors:
            return f"make run: {self.name} stopped ({how}): {errors[-1][:300]}"
        last = f"; its last line: {lines[-1][:200]}" if lines else ""
        return f"make run: {self.name} stopped ({how}) without printing an error{last}"


def stop_all(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def main(argv: list[str]) -> int:
    procfile = Path(argv[1]) if len(argv) > 1 else ROOT / "Procfile.dev"
    bind = os.environ.get("PORTAL_BIND", "127.0.0.1")
    os.environ["PORTAL_ADDR"] = web_address(bind, os.environ.get("PORTAL_PORT", "8000"))
    if not is_loopback(bind) and debug_is_on():
        print(
            f"make run: warning: PORTAL_BIND={bind} with DEBUG on: other machines can reach the "
            "debug page (settings, tracebacks); bind 127.0.0.1 or set DJANGO_DEBUG=false",
            flush=True,
        )

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    entries = read_procfile(procfile)
    width = max(len(name) for name, _ in entries)
    children = [Child(name, command, width) for name, command in entries]
    print(f"make run: {', '.join(c.name for c in children)} started; Ctrl-C stops all", flush=True)
    while not stopping.is_set():
        for child in children:
            code = child.process.poll()
            if code is not None:
                print(child.stopped(code), flush=True)
                stop_all(children)
                return 1
        stopping.wait(0.5)
    stop_all(children)
    print("make run: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
