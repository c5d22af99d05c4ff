"""A real HTTP server on 127.0.0.1 serving the pages, feeds and images a draft is made from and the links
``check --links`` fetches: one server for ``draft``, ``check --links``, the desk and the scheduler's tests.

Every wait in it is bounded: a stalled answer waits at most :data:`STALL_SECONDS` (and ends when the
server stops), stopping waits at most :data:`STOP_SECONDS` for the server's thread.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from tests.helpers.config import set_options

STALL_SECONDS = 30
STOP_SECONDS = 10


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
                pages.release.wait(STALL_SECONDS)
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
        thread.join(STOP_SECONDS)


@contextlib.contextmanager
def local_site(project: Path, *, timeout: float = 1.0) -> Iterator[Pages]:
    """The server, and ``project``'s ``[sourcing]`` set to fetch from it: private networks allowed (it is on
    127.0.0.1) and a short ``timeout`` (seconds), so that a stalled page fails fast."""
    set_options(project, "sourcing", allow_private_networks=True, timeout=timeout)
    served = serve_pages()
    try:
        yield next(served)
    finally:
        served.close()


def links_to(site: Pages, issue_dir: Path) -> None:
    """Move three links of the fixture issue to ``site``: the first item's works (``/ok``), the third's is dead
    (``/gone``, 404), the fourth's is redirected to another host (``/moved`` → ``localhost``)."""
    for name, old, new in (("01-bots.md", "https://www.example.org/etudes/connected-life", "/ok"),
                           ("03-reseaux.md", "https://www.example.org/etudes/social?src=lettre&n=3", "/gone"),
                           ("04-forrester.md", "https://www.example.org/forrester-2018", "/moved")):
        path = issue_dir / name
        path.write_text(path.read_text(encoding="utf-8").replace(old, site.url(new)), encoding="utf-8")
    port = site.base.rsplit(":", 1)[1]
    site.routes["/ok"] = Answer(b"<html>ok</html>")
    site.routes["/moved"] = Answer(b"", 301, {"Location": f"http://localhost:{port}/ok"})
