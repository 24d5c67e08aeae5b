"""The REAL LiteLLM proxy (`litellm[proxy]`, in its own venv) for the tests that it can serve.

One session-wide instance for the whole suite: the fixture is registered once, in
tests/conftest.py, so every package shares it (it takes ~11 s and ~700 MB to start).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from scripts.litellm_venv import stale_reason

ROOT = Path(__file__).resolve().parents[1]
# The version the contract was read from; bump it deliberately (Makefile: litellm-venv).
REAL_LITELLM_VERSION = "1.106.2"


@dataclass(frozen=True)
class RealProxy:
    base_url: str
    master_key: str
    log_path: Path


MOCK_CONFIG = """\
model_list:
  - model_name: gpt-4o-mock
    litellm_params: {{model: openai/gpt-4o, api_key: sk-fake, mock_response: "Hello from mock gpt-4o"}}
  - model_name: claude-mock
    litellm_params: {{model: anthropic/claude-3-5-sonnet-20240620, api_key: sk-fake, mock_response: "Hello"}}
general_settings:
  master_key: {master_key}
"""


def litellm_venv() -> Path:
    return Path(os.environ.get("LITELLM_VENV") or ROOT / ".venv-litellm")


@pytest.fixture(scope="session")
def real_litellm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealProxy]:
    """The real `litellm[proxy]` on 127.0.0.1 with mock_response models and no database."""
    binary = litellm_venv() / "bin" / "litellm"
    stale = stale_reason(litellm_venv(), REAL_LITELLM_VERSION)
    if stale is not None:
        pytest.fail(f"{stale}: run `make litellm-venv` (or set LITELLM_VENV)")
    workdir = tmp_path_factory.mktemp("litellm")
    master_key = "sk-" + secrets.token_urlsafe(24)  # publicly known keys like sk-1234 are refused
    (workdir / "config.yaml").write_text(MOCK_CONFIG.format(master_key=master_key))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # No model-cost download from the internet (~7 s of failures otherwise).
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    log_path = workdir / "proxy.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(binary), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the real LiteLLM exited at start:\n{log_path.read_text(errors='replace')[-3000:]}"
                )
            try:
                if requests.get(base_url + "/health/liveliness", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the real LiteLLM did not answer in 120 s:\n{log_path.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.25)
        yield RealProxy(base_url=base_url, master_key=master_key, log_path=log_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()
