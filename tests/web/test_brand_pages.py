"""[brand] on the public pages: the logo served under the hash of its bytes, the colours and the footer;
without [brand] the pages are the ones they were. Also the preview and the confirmation mail."""

from __future__ import annotations

import hashlib
import re
import threading
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import requests

from newsletter.services.build import build_issue
from newsletter.config import Settings, load_settings
from newsletter.store.database import Store
from newsletter.frontends.web.preview import Preview, make_server
from newsletter.frontends.web.services import EXTENSION
from tests.conftest import DAY, FIXTURES, SECRET, add_brand
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.sink import Sink
from tests.helpers.web import publish, tags
from tests.helpers.web import Service, web_settings

LOGO = (FIXTURES / "brand" / "logo.png").read_bytes()
LOGO_PATH = f"/assets/brand/{hashlib.sha256(LOGO).hexdigest()[:32]}.png"


@pytest.fixture
def branded(project: Path, sink: Sink) -> Settings:
    add_brand(project)
    return web_settings(project, sink)


def test_the_logo_is_served_under_its_hash_and_nothing_else_is(branded: Settings, store: Store) -> None:
    with Service(branded, store) as service:
        answer = requests.get(service.url + LOGO_PATH)
        assert answer.status_code == 200 and answer.content == LOGO
        assert answer.headers["Content-Type"] == "image/png" and "immutable" in answer.headers["Cache-Control"]
        assert requests.get(f"{service.url}/assets/brand/{'0' * 32}.png").status_code == 404
        assert requests.get(f"{service.url}/assets/brand/logo.png").status_code == 404
        # A new logo: the page names its address; the old address answers while the old file is kept
        # beside it (emails already sent show it), and no longer once it is gone.
        (branded.root / "brand" / "logo-2025.png").write_bytes(LOGO)
        (branded.root / "brand" / "logo.png").write_bytes(LOGO + b"\0")
        new = hashlib.sha256(LOGO + b"\0").hexdigest()[:32]
        assert f"/assets/brand/{new}.png" in requests.get(service.url + "/").text
        assert requests.get(f"{service.url}/assets/brand/{new}.png").content == LOGO + b"\0"
        assert requests.get(service.url + LOGO_PATH).content == LOGO
        (branded.root / "brand" / "logo-2025.png").unlink()
        assert requests.get(service.url + LOGO_PATH).status_code == 404


def test_a_logo_at_the_top_of_the_project_is_answered_alone(project: Path, store: Store, sink: Sink) -> None:
    (project / "logo.png").write_bytes(LOGO + b"\0")
    (project / "other.png").write_bytes(LOGO)  # an image of the project that no [brand] names
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[brand]\nlogo = "logo.png"\nlogo_alt = "CX"\n',
                      encoding="utf-8")
    with Service(web_settings(project, sink), store) as service:
        new = hashlib.sha256(LOGO + b"\0").hexdigest()[:32]
        assert requests.get(f"{service.url}/assets/brand/{new}.png").status_code == 200
        assert requests.get(service.url + LOGO_PATH).status_code == 404


def test_without_a_logo_there_is_no_logo_address(settings: Settings, store: Store, project: Path,
                                                 sink: Sink) -> None:
    (project / "brand").mkdir()
    (project / "brand" / "logo.png").write_bytes(LOGO)  # present, but no [brand] names it
    with Service(web_settings(project, sink), store) as service:
        assert requests.get(service.url + LOGO_PATH).status_code == 404


def test_pages_without_brand_keep_their_look(project: Path, store: Store, sink: Sink) -> None:
    with Service(web_settings(project, sink), store) as service:
        html = requests.get(service.url + "/archive/").text
    assert html.count("<style>") == 1 and "<img" not in html
    assert '<header><a href="/">5 infos relation client</a></header>' in html
    assert "<footer>\n  <p>La rédaction · 12 rue Exemple, 75002 Paris ·" in html


def test_pages_carry_the_brand(branded: Settings, store: Store) -> None:
    with Service(branded, store) as service:
        html = requests.get(service.url + "/archive/").text
    (logo,) = tags(html, "img")
    assert logo == {"src": LOGO_PATH, "alt": "CX Matin", "width": "180",
                    "style": "display:block;height:auto;max-width:100%;margin-bottom:.5rem"}
    brand_css = html.split("<style>")[2]
    assert "body { font-family: Georgia, Times New Roman, serif; }" in brand_css
    assert "a { color: #b3261e; }" in brand_css and "button { background: #b3261e; color: #ffffff; }" in brand_css
    assert "header { background: #1d3b2a;" in brand_css and "header a { color: #f6e7c1; }" in brand_css
    assert re.search(r"CX Matin</a></header>", html)
    assert "<p>Une publication de l&#39;équipe Relation client</p>" in html
    assert "3 place du Marché, 69002 Lyon" in html and "12 rue Exemple" not in html


def test_the_web_version_of_an_issue_shows_the_logo_from_base_url(branded: Settings, store: Store) -> None:
    publish(branded, store)
    with Service(branded, store) as service:
        html = requests.get(f"{service.url}/archive/{DAY.isoformat()}/").text
    logos = [t for t in tags(html, "img") if t.get("alt") == "CX Matin"]
    assert [t["src"] for t in logos] == ["https://news.example.org" + LOGO_PATH]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run `make test`)")
def test_the_branded_archive_in_chromium(branded: Settings, store: Store, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    with Service(branded, store) as service, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.set_default_timeout(10_000)
            page.goto(service.url + "/")
            assert page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth)") == [360]
            style = "([s, p]) => getComputedStyle(document.querySelector(s))[p]"
            assert page.evaluate(style, ["header", "backgroundColor"]) == "rgb(29, 59, 42)"
            assert page.evaluate(style, ["header a", "color"]) == "rgb(246, 231, 193)"
            assert page.evaluate(style, ["main a", "color"]) == "rgb(179, 38, 30)"
            assert page.evaluate(style, ["body", "fontFamily"]).startswith("Georgia")
            assert page.evaluate("document.documentElement.scrollWidth <= 375")
            page.screenshot(path=str(artifacts / "archive-branded-375px.png"), full_page=True)
        finally:
            browser.close()


def test_the_preview_serves_the_logo(project: Path) -> None:
    add_brand(project)
    server = make_server(project, DAY, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        email = requests.get(base + "/email.html", timeout=10).text
        assert f'src="{LOGO_PATH}"' in email
        assert requests.get(base + LOGO_PATH, timeout=10).content == LOGO
        assert requests.get(f"{base}/assets/brand/{'0' * 32}.png", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_build_puts_the_logo_beside_the_email(project: Path) -> None:
    built = build_issue(load_settings(add_brand(project)), DAY, secret_key=SECRET).folder
    assert (built / LOGO_PATH.removeprefix("/assets/")).read_bytes() == LOGO
    assert f'src="{LOGO_PATH.removeprefix("/assets/")}"' in (built / "email.html").read_text(encoding="utf-8")
    message = BytesParser(policy=policy.default).parse((built / "sample.eml").open("rb"))
    body = message.get_body(("html",))
    assert body is not None and f'src="https://news.example.org{LOGO_PATH}"' in body.get_content()


def test_the_confirmation_mail_carries_the_brand_footer(branded: Settings, store: Store) -> None:
    with Service(branded, store) as service:
        _, text, html = service.app.extensions[EXTENSION].mailer.compose("camille@example.org")
    assert "Une publication de l'équipe Relation client\n\nLa rédaction\n3 place du Marché, 69002 Lyon" in text
    assert "background:#b3261e;color:#ffffff;" in html and "12 rue Exemple" not in html + text


def test_the_preview_rebuilds_when_the_logo_changes(project: Path) -> None:
    add_brand(project)
    preview = Preview(project, DAY)
    first = preview.snapshot()
    assert LOGO_PATH in first.html
    (project / "brand" / "logo.png").write_bytes(LOGO + b"\0")
    second = preview.snapshot()
    assert second.version != first.version
    new = hashlib.sha256(LOGO + b"\0").hexdigest()[:32]
    assert f"/assets/brand/{new}.png" in second.html
