"""The built email in a real headless Chromium (Debian's), at the widths subscribers read it.

Screenshots are saved under test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.build import build_issue
from newsletter.config import Settings

from tests.conftest import DAY, REPO

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

if CHROMIUM is None:  # `make test` installs it; a bare `pytest` without it must say why.
    pytest.skip("Debian's chromium is not installed (run `make test`, which installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def built(settings: Settings) -> Path:
    folder = build_issue(settings, DAY, secret_key="test").folder
    # Serve the archive's images from the build folder: the test has no network.
    html = (folder / "email.html").read_text(encoding="utf-8")
    local = html.replace(f"{settings.newsletter.base_url}/archive/{DAY.isoformat()}/", "")
    (folder / "local.html").write_text(local, encoding="utf-8")
    return folder / "local.html"


@pytest.mark.parametrize("width", [320, 375, 600])
def test_email_fits_and_shows_every_title(browser, built: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": 900})
    # Any request leaving the machine is a bug in the email (fonts, trackers…): block and record it.
    outside: list[str] = []

    def route(r):  # type: ignore[no-untyped-def]
        if r.request.url.startswith("file://"):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(built.as_uri())
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    assert page.evaluate("[...document.images].every(i => i.hasAttribute('alt') && i.alt.trim() !== '')")
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    titles = page.locator("h2")
    assert titles.count() == 5
    for i in range(5):
        box = titles.nth(i).bounding_box()
        assert titles.nth(i).is_visible() and box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert not outside, outside
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"email-{width}px.png"), full_page=True)
    page.close()
