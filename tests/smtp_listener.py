"""A mail server on loopback for tests: silent (accepts a connection and never says a word,
the server that hung signup) until told to answer, then just enough SMTP to take messages."""

from __future__ import annotations

import socket
import threading


class LoopbackSMTP:
    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.silent = True
        self.connections = 0
        self.messages: list[str] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> LoopbackSMTP:
        self._thread.start()
        return self

    def answer(self) -> None:
        """From the next connection on, speak SMTP."""
        self.silent = False

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._held:
            conn.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.silent:
                self._held.append(conn)  # open, and never a byte back
            else:
                threading.Thread(target=self._converse, args=(conn,), daemon=True).start()

    def _converse(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 loopback ESMTP\r\n")
            for raw in lines:
                verb = raw.decode(errors="replace").strip().split(" ", 1)[0].upper()
                if verb == "DATA":
                    conn.sendall(b"354 end with <CRLF>.<CRLF>\r\n")
                    body = []
                    for line in lines:
                        if line in (b".\r\n", b".\n"):
                            break
                        body.append(line.decode(errors="replace"))
                    self.messages.append("".join(body))
                    conn.sendall(b"250 queued\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                    conn.sendall(b"250 ok\r\n")
