"""Real services on loopback for the probe tests: HTTP(S) servers with canned answers, a
listener that never answers, a port that refuses, and a private password-protected Redis."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab_server import LabHTTPServer, Responses, SilentListener, start_in_thread
from tests.webhook_listener import WebhookReceiver, webhook  # noqa: F401 (the fixture, shared)


@pytest.fixture
def http_server() -> Iterator[Callable[..., LabHTTPServer]]:
    """Start an HTTP server on 127.0.0.1 answering `responses`; HTTPS with `tls=`."""
    servers: list[LabHTTPServer] = []

    def start(responses: Responses, tls: ssl.SSLContext | None = None) -> LabHTTPServer:
        server = LabHTTPServer(("127.0.0.1", 0), responses, tls=tls)
        start_in_thread(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = SilentListener(("127.0.0.1", 0))
    start_in_thread(server)
    yield server.port
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses: bound (so nobody else takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@dataclass(frozen=True)
class SelfSignedCert:
    cert_file: Path
    key_file: Path
    valid_days: int

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    """A certificate for localhost and 127.0.0.1, valid for 30 days from now."""
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"), valid_days=30)


@pytest.fixture(scope="session")
def cert_10_days(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    """The same kind of certificate, 10 days from expiry (the certificate alerts' case)."""
    return make_self_signed_cert(tmp_path_factory.mktemp("tls10"), valid_days=10)


def make_self_signed_cert(folder: Path, *, valid_days: int) -> SelfSignedCert:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SelfSignedCert(cert_file, key_file, valid_days)


@dataclass(frozen=True)
class PrivateRedis:
    socket_path: str
    password: str


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server with a password, on a Unix socket only (no TCP port to collide on)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    folder = tmp_path_factory.mktemp("redis")
    socket_path = str(folder / "redis.sock")
    password = "pw-" + secrets.token_hex(8)
    process = subprocess.Popen(
        [
            "redis-server",
            "--port", "0",
            "--unixsocket", socket_path,
            "--unixsocketperm", "777",
            "--requirepass", password,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not Path(socket_path).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the private redis-server did not start")
            time.sleep(0.02)
        yield PrivateRedis(socket_path, password)
    finally:
        process.terminate()
        process.wait(timeout=10)
