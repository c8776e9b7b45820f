"""A local TCP server that misbehaves on purpose, for the network-deadline tests and benchmarks/adversarial.py."""

from __future__ import annotations

import socket
import threading
import time


class Server:
    """A local TCP server answering every connection by ``mode``: ``silent`` (accepts, never answers), ``trickle``
    (a 200 with a Content-Length of 1 MB, then a byte every 0.2 s), ``endless`` (a 200 without Content-Length, then
    bytes until the client goes away) or ``notfound`` (a 404 at once)."""

    def __init__(self, mode: str) -> None:
        self.mode, self.sock = mode, socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            if self.mode == "silent":
                time.sleep(3600)
            elif self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                while True:
                    conn.sendall(b"x")
                    time.sleep(0.2)
            elif self.mode == "endless":
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
                block = b"x" * 65536
                while True:
                    conn.sendall(block)
            else:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass
