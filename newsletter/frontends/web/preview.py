"""``newsletter preview``: the email at desktop and mobile widths, rebuilt whenever a file changes.

A small standard-library HTTP server on 127.0.0.1. The page shows the check's problems above
two frames (600 px and 375 px); a few lines of script poll ``/version`` and reload when the
issue, the templates or the configuration change. A broken file shows up as a problem on
the page, never as a crash. The email frames are sandboxed: no script of theirs runs. The page
is the ``preview.html`` template, in the newsletter's language (the last one read from a
configuration that loaded; French, the default locale's, until then).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2

from newsletter.config import CONFIG_FILE
from newsletter.errors import ConfigError
from newsletter.core.i18n import Words, environment, words
from newsletter.frontends.hardening import FRAMED_EMAIL_POLICY, inline_script_sources, page_policy, security_headers
from newsletter.library import Image, Newsletter, PreviewProblem, preview_build, preview_image

log = logging.getLogger(__name__)

ASSETS = "/assets/"
WIDTHS = (600, 375)
TEMPLATES = Path(__file__).with_name("templates")
DEFAULT_LOCALE = "fr_FR"  # [newsletter] locale's default, for a configuration that does not load
#: What the answers other than the page and the email allow: nothing (the same headers as every front end's).
PLAIN = security_headers(page_policy())
#: The email in the page's frames: the same headers, framed by the preview's page only.
FRAMED = {**security_headers(FRAMED_EMAIL_POLICY), "X-Frame-Options": "SAMEORIGIN"}


def page_headers(html: str) -> dict[str, str]:
    """The preview page's headers: its own inline script (the reload poll) and styles, its frames, its polls."""
    return security_headers(page_policy(inline_script_sources(html), "style-src 'unsafe-inline'", "img-src 'self' data:",
                                        "frame-src 'self'", "connect-src 'self'"))


@dataclass
class Snapshot:
    """One rebuild: what the page shows until the files change again."""

    version: str
    problems: list[PreviewProblem]
    error: str
    html: str
    text: str
    words: Words


class Preview:
    """Builds snapshots of one issue on demand, at most once per change of its files."""

    def __init__(self, root: Path, day: date) -> None:
        self.root = root
        self.day = day
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._words = words(DEFAULT_LOCALE)
        self._logo = ""  # [brand] logo of the last configuration read

    def _watched(self) -> list[Path]:
        files = [self.root / CONFIG_FILE]
        if self._logo:
            files.append(self.root / self._logo)  # a new logo shows without touching the issue
        for folder in (self.root / "issues" / self.day.isoformat(), self.root / "templates"):
            if folder.is_dir():
                files.extend(p for p in folder.rglob("*") if p.is_file())
        return sorted(files)

    def version(self) -> str:
        digest = hashlib.sha256()
        for path in self._watched():
            try:
                st = path.stat()
            except OSError:
                continue
            digest.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        return digest.hexdigest()[:16]

    def snapshot(self) -> Snapshot:
        version = self.version()
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = self._build(version)
            return self._snapshot

    def _build(self, version: str) -> Snapshot:
        built = preview_build(self.root, self.day, asset_base=ASSETS)
        if built.locale is not None:
            self._words = words(built.locale)
            self._logo = built.logo
        if built.error:
            return Snapshot(version, [], built.error, "", "", self._words)
        if built.crash:
            return Snapshot(version, [], self._words.gettext("unexpected error: %(error)s", error=built.crash), "", "",
                            self._words)
        if not built.rendered:
            return Snapshot(version, built.problems, self._words.gettext("the email could not be rendered"), "", "",
                            self._words)
        return Snapshot(version, built.problems, "", built.html, built.text, self._words)

    def asset(self, relative: str) -> Image | None:
        """An image file of the issue folder, or the brand's logo under its content-hashed name: never a
        link, never anything else."""
        return preview_image(self.root, self.day, relative, logo=self._logo)


@lru_cache(maxsize=None)
def _templates(language: Words) -> jinja2.Environment:
    return environment(TEMPLATES, language)


def _page(preview: Preview, snap: Snapshot) -> str:
    """The preview page (``templates/preview.html``) for one snapshot."""
    template = _templates(snap.words).get_template("preview.html")
    return template.render(
        day=preview.day, error=snap.error, version=snap.version,
        blocked=any(p.severity == "error" for p in snap.problems),
        problems=[{"severity": p.severity, "text": p.text} for p in snap.problems],
        widths=WIDTHS if snap.html else ())


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "newsletter-preview"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("preview: " + format, *args)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] = PLAIN) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/version":
                body = json.dumps({"version": preview.version()}).encode()
                return self._send(HTTPStatus.OK, body, "application/json")
            snap = preview.snapshot()
            if path == "/":
                page = _page(preview, snap)
                return self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", page_headers(page))
            if path == "/email.html" and snap.html:
                return self._send(HTTPStatus.OK, snap.html.encode(), "text/html; charset=utf-8", FRAMED)
            if path == "/email.txt" and snap.text:
                return self._send(HTTPStatus.OK, snap.text.encode(), "text/plain; charset=utf-8")
            if path.startswith(ASSETS):
                image = preview.asset(path[len(ASSETS):])
                if image is not None:
                    return self._send(HTTPStatus.OK, image.data, image.media_type)
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    return Handler


def make_server(root: Path, day: date, host: str = "127.0.0.1", port: int = 8025) -> ThreadingHTTPServer:
    """Create (but do not start) the preview server; ``port=0`` picks a free port."""
    preview = Preview(root, day)
    server = ThreadingHTTPServer((host, port), _handler(preview))
    server.daemon_threads = True
    return server


def preview_server(nl: Newsletter, day: date | None = None, *, host: str = "127.0.0.1",
                   port: int = 8025) -> ThreadingHTTPServer:
    """``newsletter preview``: the live preview of ``nl``'s issue of ``day`` (default today), not yet
    running (``port=0``: a free one).

    :raises ConfigError: when it cannot listen there.
    """
    try:
        return make_server(nl.settings.root, day or nl.today(), host, port)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}", hint="choose another --port") \
            from err
