"""A real HTTP server on 127.0.0.1 serving the pages, feeds and images a draft is made from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


@dataclass
class Answer:
    """What the server answers for one path: status, headers, body (``stall``: never answer)."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    stall: bool = False


class Pages:
    """The routes of the server (path → :class:`Answer`) and the requests it received."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path


def serve_pages() -> Iterator[Pages]:
    """Run the server until the generator is closed (a fixture's body)."""
    pages = Pages()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            pages.requests.append((self.command, self.path))
            answer = pages.routes.get(self.path)
            if answer is None:
                answer = Answer(b"not found", 404, {"Content-Type": "text/plain"})
            if answer.stall:
                pages.release.wait(30)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if with_body:
                self.wfile.write(answer.body)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (a timeout test) is expected, not a failure to print

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    pages.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages
    finally:
        pages.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
