"""An attacker's PostgreSQL and Redis on loopback: they speak just enough of each protocol to be
asked for a password, keep every byte a client sends, and refuse every login.

PostgreSQL: "no SSL" to an SSLRequest, then AuthenticationCleartextPassword, the request that
makes a client that holds a password send it as it is; whatever comes next is kept, then a
FATAL 28P01. Redis: every command is kept; AUTH answers WRONGPASS, anything else NOAUTH.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from typing import Any

from tests.lab_server import start_in_thread

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class _Recording(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.received: list[bytes] = []  # one entry per connection: every byte it sent
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), socketserver.BaseRequestHandler)
        start_in_thread(self)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def sent(self, secret: str) -> bool:
        """Whether any connection carried `secret`."""
        return any(secret.encode() in data for data in self.received)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.settimeout(5)
        seen = bytearray()
        try:
            self.converse(sock, seen)
        except (OSError, ValueError):
            pass  # the client hung up: what it sent is kept all the same
        finally:
            with self.lock:
                self.received.append(bytes(seen))

    def converse(self, sock: socket.socket, seen: bytearray) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _read(sock: socket.socket, size: int, seen: bytearray) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("closed")
        data += chunk
    seen += data
    return data


class RecordingPostgres(_Recording):
    def converse(self, sock: socket.socket, seen: bytearray) -> None:
        while True:  # SSLRequest / GSSENCRequest first (libpq's default sslmode=prefer)
            (length,) = struct.unpack("!I", _read(sock, 4, seen))
            body = _read(sock, length - 4, seen)
            if struct.unpack("!I", body[:4])[0] in (_SSL_REQUEST, _GSSENC_REQUEST):
                sock.sendall(b"N")
                continue
            break  # the StartupMessage (user, database)
        sock.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        message_type = _read(sock, 1, seen)
        if message_type == b"p":  # PasswordMessage
            (length,) = struct.unpack("!I", _read(sock, 4, seen))
            _read(sock, length - 4, seen)
        fields = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0"
        sock.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)


class RecordingRedis(_Recording):
    def converse(self, sock: socket.socket, seen: bytearray) -> None:
        reader = sock.makefile("rb")
        while True:
            line = reader.readline()
            if not line:
                return
            seen += line
            if not line.startswith(b"*"):
                continue
            words = []
            for _ in range(int(line[1:])):
                header = reader.readline()
                seen += header
                word = reader.read(int(header[1:]) + 2)
                seen += word
                words.append(word[:-2])
            if words and words[0].upper() == b"AUTH":
                sock.sendall(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            else:
                sock.sendall(b"-NOAUTH Authentication required.\r\n")
