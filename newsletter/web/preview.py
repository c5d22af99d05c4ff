"""``newsletter preview``: the email at desktop and mobile widths, rebuilt whenever a file changes.

A small standard-library HTTP server on 127.0.0.1. The page shows the check's problems above
two frames (600 px and 375 px); a few lines of script poll ``/version`` and reload when the
issue, the templates or the configuration change. A broken file shows up as a problem on
the page, never as a crash. The email frames are sandboxed: no script of theirs runs.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import threading
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newsletter.build import SAMPLE_RECIPIENT, SAMPLE_SECRET
from newsletter.config import CONFIG_FILE, load_settings
from newsletter.check import check_issue
from newsletter.content.load import issue_folder
from newsletter.content.problems import Problem
from newsletter.errors import NewsletterError
from newsletter.publication import Image, UnsafeFileError, read_image
from newsletter.render.mime import recipient_values

log = logging.getLogger(__name__)

ASSETS = "/assets/"
WIDTHS = (600, 375)


@dataclass
class Snapshot:
    """One rebuild: what the page shows until the files change again."""

    version: str
    problems: list[Problem]
    error: str
    html: str
    text: str
    root: Path


class Preview:
    """Builds snapshots of one issue on demand, at most once per change of its files."""

    def __init__(self, root: Path, day: date) -> None:
        self.root = root
        self.day = day
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def _watched(self) -> list[Path]:
        files = [self.root / CONFIG_FILE]
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
        try:
            settings = load_settings(self.root)
            report = check_issue(settings, self.day, asset_base=ASSETS)
        except NewsletterError as err:
            return Snapshot(version, [], f"{err}" + (f" ({err.hint})" if err.hint else ""), "", "", self.root)
        except Exception as err:  # the page must keep working whatever an edit breaks
            log.exception("preview of %s failed", self.day.isoformat())
            return Snapshot(version, [], f"unexpected error: {err!r}", "", "", self.root)
        if report.rendered is None:
            return Snapshot(version, report.problems, "the email could not be rendered", "", "", settings.root)
        values = recipient_values(settings, SAMPLE_RECIPIENT, SAMPLE_SECRET)
        page_html, page_text = report.rendered.personalize(values)
        return Snapshot(version, report.problems, "", page_html, page_text, settings.root)

    def asset(self, relative: str) -> Image | None:
        """An image file of the issue folder: never a link, never anything else (:func:`read_image`)."""
        try:
            return read_image(issue_folder(self.root / "issues", self.day), relative)
        except UnsafeFileError:
            return None


def _page(preview: Preview, snap: Snapshot) -> str:
    esc = html.escape
    if snap.error:
        status = f'<p class="bad">{esc(snap.error)}</p>'
    elif any(p.severity == "error" for p in snap.problems):
        status = '<p class="bad">Ce numéro a des problèmes à corriger avant envoi :</p>'
    else:
        status = '<p class="ok">Prêt : aucun problème bloquant.</p>'
    items = "".join(
        f'<li class="{p.severity}">{esc(p.format(snap.root))}</li>' for p in snap.problems
    )
    frames = "".join(
        f'<figure><figcaption>{w} px</figcaption>'
        f'<iframe title="Email à {w} px" src="/email.html?v={snap.version}" width="{w}" height="1400" '
        f'sandbox="allow-popups allow-popups-to-escape-sandbox"></iframe></figure>'
        for w in WIDTHS
    ) if snap.html else ""
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Aperçu {preview.day.isoformat()}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; background: #f5f7fa; color: #1f2933; }}
.bad {{ color: #a61b1b; font-weight: bold; }} .ok {{ color: #116b2b; font-weight: bold; }}
li.warning {{ color: #8a5a00; }} li.error {{ color: #a61b1b; }}
.frames {{ display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }}
iframe {{ border: 1px solid #c5ced8; background: #fff; }}
figure {{ margin: 0; }}
</style></head>
<body>
<h1>Aperçu du numéro du {preview.day.isoformat()}</h1>
{status}
<ul>{items}</ul>
<p><a href="/email.txt">Version texte</a> · se met à jour à chaque enregistrement.</p>
<div class="frames">{frames}</div>
<script>
const shown = {json.dumps(snap.version)};
setInterval(async () => {{
  try {{
    const r = await fetch('/version', {{cache: 'no-store'}});
    if ((await r.json()).version !== shown) location.reload();
  }} catch (e) {{}}
}}, 1000);
</script>
</body></html>
"""


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "newsletter-preview"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("preview: " + format, *args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
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
                return self._send(HTTPStatus.OK, _page(preview, snap).encode(), "text/html; charset=utf-8")
            if path == "/email.html" and snap.html:
                return self._send(HTTPStatus.OK, snap.html.encode(), "text/html; charset=utf-8")
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

