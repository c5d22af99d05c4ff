"""Slow clients for the servers' tests: connections that trickle a request and never finish it.

Every loopback address 127.0.0.0/8 reaches a server on 127.0.0.1, so a test can play several
client addresses (``source``) from one machine. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

HEAD = b"GET /healthz HTTP/1.1\r\nHost: news.example.org\r\n"


def connect(port: int, source: str = "127.0.0.1", timeout: float = 5) -> socket.socket:
    """A connection to ``127.0.0.1:port`` from the loopback address ``source``."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def closed_by_server(sock: socket.socket, wait: float = 0.05) -> bool:
    """Whether the server has closed ``sock`` (end of stream or reset), waiting at most ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(4096) == b""
    except (socket.timeout, BlockingIOError):  # nothing to read yet
        return False
    except OSError:
        return True


def wait_until(condition: Callable[[], bool], deadline: float = 10) -> bool:
    """Whether ``condition()`` came true within ``deadline`` seconds (checked every 10 ms)."""
    end = time.monotonic() + deadline
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def trickle_until_closed(sock: socket.socket, first: bytes = HEAD, line: bytes = b"X-Slow: 1\r\n",
                         pause: float = 0.1, deadline: float = 20) -> int:
    """Send ``first``, then ``line`` every ``pause`` seconds until the server closes the connection.

    :return: how many lines were sent after ``first`` (the server closed while they kept coming).
    :raises AssertionError: when the connection is still open after ``deadline`` seconds.
    """
    sock.sendall(first)
    sent = 0
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if closed_by_server(sock, pause):
            return sent
        try:
            sock.sendall(line)
        except OSError:  # reset: closed
            return sent
        sent += 1
    raise AssertionError(f"the server kept the trickling connection open for {deadline} s ({sent} lines)")


class Tricklers:
    """``count`` connections from each address of ``sources``, each sending one header line every
    ``pause`` seconds from a thread and reopened as soon as the server closes it: a persistent flood."""

    def __init__(self, port: int, sources: list[str], count: int, pause: float = 0.2) -> None:
        self.port, self.sources, self.count, self.pause = port, sources, count, pause
        self.stop = threading.Event()
        self.sockets: list[tuple[str, socket.socket]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, source: str) -> tuple[str, socket.socket]:
        sock = connect(self.port, source)
        sock.sendall(HEAD)
        return source, sock

    def _run(self) -> None:
        while not self.stop.wait(self.pause):
            for index, (source, sock) in enumerate(self.sockets):
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                    if not closed_by_server(sock, 0):
                        continue
                except OSError:
                    pass
                sock.close()
                try:
                    self.sockets[index] = self._open(source)
                except OSError:  # the listen queue is full: try again on the next round
                    pass

    def __enter__(self) -> "Tricklers":
        self.sockets = [self._open(source) for source in self.sources for _ in range(self.count)]
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for _, sock in self.sockets:
            sock.close()
