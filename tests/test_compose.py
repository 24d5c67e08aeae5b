"""The compose files: validated by a real compose implementation and checked for the
properties the deployment relies on (no Docker engine here, so they are not run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FILES = ["compose.dev.yaml", "compose.prod.yaml"]
DJANGO_SERVICES = ["migrate", "web", "beat", "worker", "worker-dev", "worker-prod"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", FILES)
def test_a_real_compose_implementation_accepts_it(name: str, tmp_path: Path) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package)")
    shutil.copy(ROOT / name, tmp_path / name)
    for env_file in ("portal.env", "postgres.env", "traefik.env"):
        (tmp_path / env_file).touch()
    result = subprocess.run(
        [compose, "-f", name, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", FILES)
def test_it_has_the_whole_stack_from_one_service_definition(name: str) -> None:
    services = load(name)["services"]
    assert {"postgres", "redis", *DJANGO_SERVICES} <= set(services)
    text = (ROOT / name).read_text()
    assert "x-portal: &portal" in text
    for service in DJANGO_SERVICES:
        assert f"  {service}:\n    <<: *portal" in text, f"{service} does not reuse the portal anchor"
        assert "host.docker.internal:host-gateway" in services[service]["extra_hosts"]
    assert services["migrate"]["restart"] == "no"
    assert "bootstrap" in " ".join(services["migrate"]["command"])


@pytest.mark.parametrize("name", FILES)
def test_each_network_has_its_own_worker_on_its_own_queue(name: str) -> None:
    document = load(name)
    services = document["services"]
    for network in ("backend-dev", "backend-prod"):
        worker = services[f"worker-{network.split('-')[1]}"]
        assert network in worker["networks"]
        command = worker["command"]
        assert command[command.index("--queues") + 1] == f"net.{network}"
        assert document["networks"][network] == {"external": True}


@pytest.mark.parametrize("name", FILES)
def test_it_has_healthchecks_with_web_on_liveness(name: str) -> None:
    services = load(name)["services"]
    for service in ("postgres", "redis", "web"):
        assert "healthcheck" in services[service]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_production_takes_secrets_from_env_files_only() -> None:
    text = (ROOT / "compose.prod.yaml").read_text()
    services = load("compose.prod.yaml")["services"]
    assert services["web"]["env_file"] == ["portal.env"]
    assert services["postgres"]["env_file"] == ["postgres.env"]
    secret_like = re.compile(r"(PASSWORD|SECRET|MASTER_KEY|FERNET|TOKEN)\w*\s*[:=]\s*\S", re.I)
    offending = [
        line for line in text.splitlines() if secret_like.search(line) and not line.lstrip().startswith("#")
    ]
    assert offending == []


def test_production_puts_a_tls_terminating_proxy_in_front() -> None:
    services = load("compose.prod.yaml")["services"]
    proxy = services["traefik"]
    assert "443:443" in proxy["ports"]
    assert "ports" not in services["web"]  # only reachable through the proxy
    labels = services["web"]["labels"]
    assert any("tls.certresolver" in label for label in labels)
