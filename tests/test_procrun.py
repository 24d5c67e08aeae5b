"""scripts/procrun.py, `make run`'s supervisor, on real processes: one line naming a process
that dies and why, Ctrl-C stops all, PORTAL_BIND / PORTAL_PORT and the debug warning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCRUN = ROOT / "scripts" / "procrun.py"


def procfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Procfile"
    path.write_text(text)
    return path


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        **extra,
    }


def run(tmp_path: Path, text: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROCRUN), str(procfile(tmp_path, text))],
        cwd=ROOT,
        env=environment(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def supervisor_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("make run:")]


def test_a_process_that_dies_is_named_with_its_last_error_in_one_line(tmp_path: Path) -> None:
    dying = tmp_path / "dying.py"
    dying.write_text(
        "import sys, time\n"
        "print('[INFO/MainProcess] Connected to sqla+sqlite:///var/broker.sqlite3', flush=True)\n"
        "time.sleep(1)\n"
        "print('[CRITICAL/MainProcess] Unrecoverable error: JSONDecodeError(\"Expecting value\")', flush=True)\n"
        "print('worker: Warm shutdown (MainProcess)', flush=True)\n"
        "sys.exit(1)\n"
    )
    started = time.monotonic()
    result = run(tmp_path, f"calm: sleep 120\nworker: {sys.executable} {dying}\n")
    assert result.returncode == 1
    assert time.monotonic() - started < 20  # the calm one was stopped, not waited for
    assert supervisor_lines(result.stdout)[-1] == (
        "make run: worker stopped (exit code 1): "
        '[CRITICAL/MainProcess] Unrecoverable error: JSONDecodeError("Expecting value")'
    )
    # Its own output is still shown, prefixed with its name.
    assert any(
        line.endswith("worker | [INFO/MainProcess] Connected to sqla+sqlite:///var/broker.sqlite3")
        for line in result.stdout.splitlines()
    )


def test_a_process_killed_without_a_word_is_named_with_the_signal(tmp_path: Path) -> None:
    killed = "import os; print('tick', flush=True); os.kill(os.getpid(), 9)"
    result = run(tmp_path, f'calm: sleep 120\nbeat: {sys.executable} -c "{killed}"\n')
    assert result.returncode == 1
    assert supervisor_lines(result.stdout)[-1] == (
        "make run: beat stopped (killed by SIGKILL) without printing an error; its last line: tick"
    )


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(PROCRUN), str(procfile(tmp_path, "web: sleep 120\nworker: sleep 120\n"))],
        cwd=ROOT,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert "started" in process.stdout.readline()
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole group
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 0
        assert supervisor_lines(out) == ["make run: stopped"]
        time.sleep(0.2)
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # nothing of the group is left
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("bind", "port", "address", "warns"),
    [
        ("127.0.0.1", "8000", "127.0.0.1:8000", False),
        ("localhost", "8011", "localhost:8011", False),
        ("::1", "8011", "[::1]:8011", False),
        ("0.0.0.0", "8011", "0.0.0.0:8011", True),
        ("192.168.1.5", "80", "192.168.1.5:80", True),
        ("portal.lan", "8000", "portal.lan:8000", True),
    ],
)
def test_portal_bind_and_port_make_the_web_address_and_a_public_bind_with_debug_warns(
    tmp_path: Path, bind: str, port: str, address: str, warns: bool
) -> None:
    result = run(
        tmp_path, 'web: echo "addr=$PORTAL_ADDR"\n', PORTAL_BIND=bind, PORTAL_PORT=port, DJANGO_DEBUG="true"
    )
    assert f"web | addr={address}" in result.stdout, result.stdout + result.stderr
    warnings = [line for line in supervisor_lines(result.stdout) if "warning" in line]
    if warns:
        assert warnings == [
            f"make run: warning: PORTAL_BIND={bind} with DEBUG on: other machines can reach the debug "
            "page (settings, tracebacks); bind 127.0.0.1 or set DJANGO_DEBUG=false"
        ]
    else:
        assert warnings == []


def test_the_default_address_is_loopback_port_8000(tmp_path: Path) -> None:
    result = run(tmp_path, 'web: echo "addr=$PORTAL_ADDR"\n')
    assert "web | addr=127.0.0.1:8000" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORTAL_PORT", "80a", "make run: PORTAL_PORT must be a port number (1-65535), not '80a'"),
        ("PORTAL_PORT", "70000", "make run: PORTAL_PORT must be a port number (1-65535), not '70000'"),
        (
            "PORTAL_BIND",
            "http://0.0.0.0",
            "make run: PORTAL_BIND must be an address such as 127.0.0.1, not 'http://0.0.0.0'",
        ),
    ],
)
def test_a_bad_port_or_bind_is_one_line_before_anything_starts(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = run(tmp_path, "web: echo started-anyway\n", **{variable: value})
    assert result.returncode == 1
    assert result.stderr == expected + "\n"
    assert "started-anyway" not in result.stdout
