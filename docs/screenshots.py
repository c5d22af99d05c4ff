"""Make the README's screenshots: the public archive page of the sample issue and a test copy.

Run from the repository root (``make screenshots``): it copies the sample project into a
temporary folder, sends a test copy and then the issue to a local outbox, starts ``serve`` on
127.0.0.1 and opens both in Debian's Chromium, whose requests for ``base_url`` go to that
server. Nothing leaves the machine; only ``docs/archive-page.png`` and ``docs/test-copy.png``
are written.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import shutil
import sys
import tempfile
import threading
from datetime import date, datetime, timezone
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter import Newsletter  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.delivery.engine import send_issue, send_test  # noqa: E402
from newsletter.render.mime import Recipient  # noqa: E402
from newsletter.store.database import open_store  # noqa: E402
from newsletter.store.subscribers import add_subscriber  # noqa: E402
from newsletter.frontends.web.app import create_app  # noqa: E402

DAY = date(2026, 11, 24)
BASE = "https://news.example.org"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def main() -> None:
    import waitress
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Debian's chromium is not installed (`make test` installs it)")
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copyfile(ROOT / "newsletter.toml", project / "newsletter.toml")
        shutil.copytree(ROOT / "issues", project / "issues")
        settings = load_settings(project)
        store = open_store(settings.store.url, project)
        try:
            send_test(settings, DAY, [Recipient("relecture@example.org", "Camille")], secret_key=key)
            test_copy = _html_part(next((project / "out" / "outbox" / "new").iterdir()))
            add_subscriber(store, "camille.martin@example.org", now=datetime.now(timezone.utc), first_name="Camille")
            send_issue(settings, store, DAY, secret_key=key)
            server = waitress.create_server(create_app(Newsletter(settings, store=store, secret_key=key)), host="127.0.0.1", port=0)
            local = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 640, "height": 900})
                    page.route(f"{BASE}/**", lambda r: r.fulfill(response=r.fetch(url=r.request.url.replace(BASE, local))))
                    page.goto(f"{BASE}/archive/{DAY.isoformat()}/")
                    page.screenshot(path=str(ROOT / "docs" / "archive-page.png"), full_page=True)
                    page.set_content(test_copy, wait_until="load")
                    page.screenshot(path=str(ROOT / "docs" / "test-copy.png"), full_page=True)
                    browser.close()
            finally:
                server.close()
                thread.join(timeout=10)
        finally:
            store.close()
    print("wrote docs/archive-page.png and docs/test-copy.png")


def _html_part(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


if __name__ == "__main__":
    main()
