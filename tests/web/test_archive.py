"""The archive as the public and proofreaders see it: a page written for the public, an Atom feed with
the items, images at content-hashed URLs from the moment an issue exists, and nothing outside an issue."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests
from sqlalchemy import text

from newsletter.config import Settings
from newsletter.delivery.engine import send_issue, send_test
from newsletter.content.publication import proof_url
from newsletter.render.mime import Recipient
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET, add_brand, write
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from tests.sink import Sink
from tests.helpers.clock import NOW
from tests.helpers.web import Service, web_settings
from tests.helpers.web import publish, tags

ATOM = "{http://www.w3.org/2005/Atom}"
PAGE = f"/archive/{DAY.isoformat()}/"


@pytest.fixture
def settings(project: Path, sink: Sink) -> Settings:  # type: ignore[override]
    return web_settings(project, sink)


def meta(html: str, key: str) -> str | None:
    return next((t.get("content") for t in tags(html, "meta") if key in (t.get("name"), t.get("property"))), None)


def test_the_web_version_is_written_for_the_public(settings: Settings, store: Store, issue_dir: Path) -> None:
    # An intro whose merge field has no default: the email says "Bonjour Zoéline, …", the page "Bonjour, …".
    yaml = issue_dir / "issue.yaml"
    yaml.write_text(re.sub(r"\{\{ first_name[^}]*\}\}", "{{ first_name }}", yaml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    publish(settings, store)
    with Service(settings, store) as service:
        html = requests.get(service.url + PAGE).text
    text = re.sub(r"<[^>]+>", " ", html)
    assert "Bonjour, voici vos" in text.replace("\u00a0", " ")
    assert "Bonjour ," not in text and "Zoéline" not in html and "camille" not in html and "NLMRG" not in html
    assert "à l’adresse" not in html and "abonné·e" not in html and "Se désabonner" not in html
    assert "Voir la version en ligne" not in html
    assert not [a for a in tags(html, "a") if (a.get("href") or "").startswith(f"https://news.example.org{PAGE}")]
    assert 'href="https://news.example.org/subscribe"' in html and "S’abonner" in html
    title = re.search(r"<title>\s*(.*?)\s*</title>", html, re.S)
    assert title and title.group(1) == "Le consommateur français résiste au numérique · 5 infos relation client"
    assert meta(html, "description") == "Bots, paiement mobile, réseaux sociaux\u00a0: les chiffres qui freinent."
    assert meta(html, "og:title") == "Le consommateur français résiste au numérique"
    assert meta(html, "og:url") == f"https://news.example.org{PAGE}"
    assert meta(html, "og:type") == "article" and meta(html, "og:site_name") == "5 infos relation client"
    assert (meta(html, "og:image") or "").startswith("https://news.example.org/assets/2026-11-24/")
    assert {"rel": "canonical", "href": f"https://news.example.org{PAGE}"} in tags(html, "link")


def test_the_greeting_keeps_its_default_on_the_web(settings: Settings, store: Store) -> None:
    publish(settings, store)
    with Service(settings, store) as service:
        html = requests.get(service.url + PAGE).text
    assert "Bonjour à toutes et à tous, voici vos" in html.replace("\u00a0", " ")


def test_the_feed_carries_each_issues_items(settings: Settings, store: Store, issue_dir: Path) -> None:
    item = issue_dir / "03-reseaux.md"
    item.write_text(item.read_text(encoding="utf-8").replace(
        "Pour 57", 'Dites-le, {{ first_name | default("chers lecteurs") }} {{ last_name }}: pour 57'), encoding="utf-8")
    publish(settings, store)
    with Service(settings, store) as service:
        feed = ET.fromstring(requests.get(f"{service.url}/feed.xml").content)
    (entry,) = feed.findall(f"{ATOM}entry")
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    items = ET.fromstring(content.text or "").findall("li")
    assert len(items) == 5
    first_link = items[0].find("a")
    assert first_link is not None and first_link.text == "Le service client par bot ne convainc pas"
    assert first_link.get("href") == "https://www.example.org/etudes/connected-life"
    assert "Près d'un Français sur deux" in (items[0].findtext("p") or "").replace("’", "'")
    assert "Le service client par bot" in (entry.findtext(f"{ATOM}summary") or "")
    third = (items[2].findtext("p") or "").replace("\u00a0", " ")
    assert third.startswith("Dites-le, chers lecteurs : pour 57") and "NLMRG" not in feed_text(feed), third


def feed_text(feed: ET.Element) -> str:
    return ET.tostring(feed, encoding="unicode")


def test_an_unsent_issue_opens_only_with_the_proofreading_key(settings: Settings, store: Store) -> None:
    with Service(settings, store) as service:
        assert requests.get(service.url + PAGE).status_code == 404
        assert requests.get(service.url + PAGE, params={"cle": "0" * 32}).status_code == 404
        url = proof_url(settings.newsletter.base_url, SECRET, DAY).replace("https://news.example.org", service.url)
        page = requests.get(url)
        assert page.status_code == 200 and "Le consommateur français résiste au numérique" in page.text
        assert page.headers["X-Robots-Tag"] == "noindex" and "no-store" in page.headers["Cache-Control"]
        other_day = proof_url(settings.newsletter.base_url, SECRET, DAY.replace(day=25))
        assert requests.get(service.url + PAGE + "?" + other_day.split("?")[1]).status_code == 404


def test_images_have_content_hashed_urls_served_before_the_send(settings: Settings, store: Store,
                                                                 issue_dir: Path) -> None:
    data = (issue_dir / "images" / "barres.png").read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:32]
    with Service(settings, store) as service:
        image = requests.get(f"{service.url}/assets/{DAY.isoformat()}/{digest}.png")
        assert image.status_code == 200 and image.content == data
        assert image.headers["Content-Type"] == "image/png" and "immutable" in image.headers["Cache-Control"]
        for wrong in [f"{'0' * 32}.png", f"{digest}.gif", f"{digest[:-1]}.png", "barres.png"]:
            assert requests.get(f"{service.url}/assets/{DAY.isoformat()}/{wrong}").status_code == 404, wrong
        assert requests.get(f"{service.url}/assets/2026-11-25/{digest}.png").status_code == 404


@pytest.mark.parametrize("target", ["../../../state/newsletter.db", "/etc/passwd", "../issue.yaml"])
def test_the_archive_never_follows_a_link_out_of_an_issue(settings: Settings, store: Store, issue_dir: Path,
                                                         target: str) -> None:
    publish(settings, store)  # the database exists, and the issue is public
    link = issue_dir / "images" / "leak.png"
    link.symlink_to(target)
    assert link.resolve().is_file()
    leaked = link.resolve().read_bytes()
    digest = hashlib.sha256(leaked).hexdigest()[:32]
    with Service(settings, store) as service:
        for path in [f"{PAGE}images/leak.png", f"/assets/{DAY.isoformat()}/{digest}.png"]:
            answer = requests.get(service.url + path)
            assert answer.status_code == 404, path
            assert leaked[:16] not in answer.content


def test_the_archive_serves_only_real_images(settings: Settings, store: Store, issue_dir: Path) -> None:
    publish(settings, store)
    shutil.copyfile(issue_dir / "01-bots.md", issue_dir / "images" / "notes.png")  # text named .png
    write(issue_dir / "images" / "real.png", "")
    (issue_dir / "images" / "real.png").write_bytes((issue_dir / "images" / "barres.png").read_bytes())
    with Service(settings, store) as service:
        assert requests.get(f"{service.url}{PAGE}images/notes.png").status_code == 404
        assert requests.get(f"{service.url}{PAGE}images/real.png").headers["Content-Type"] == "image/png"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (run `make test`)")
def test_a_test_copy_shows_its_images_and_web_version_before_the_send(settings: Settings, store: Store,
                                                                      sink: Sink, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    send_test(settings, DAY, [Recipient("relecture@example.org", "Inès")], secret_key=SECRET)
    (message,) = sink.recorder.messages
    body = message.get_body(("html",))
    assert body is not None
    html = body.get_content()
    with Service(settings, store) as service, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 600, "height": 900})
            page.set_default_timeout(10_000)
            # The proofreader's mail client fetches from base_url, which the proxy sends to `serve`.
            page.route("https://news.example.org/**", lambda r: r.fulfill(
                response=r.fetch(url=r.request.url.replace("https://news.example.org", service.url))))
            page.set_content(html, wait_until="load")
            assert page.evaluate("document.images.length") == 1
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(artifacts / "test-copy-600px.png"), full_page=True)
            with page.expect_navigation():
                page.click("text=Voir la version en ligne")
            assert page.title() == "Le consommateur français résiste au numérique · 5 infos relation client"
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert "Inès" not in page.content()
        finally:
            browser.close()
        assert requests.get(f"{service.url}{PAGE}").status_code == 404  # still unpublished for everyone else


def test_the_feed_writes_item_titles_as_the_email_does(settings: Settings, store: Store, issue_dir: Path) -> None:
    item = issue_dir / "01-bots.md"
    item.write_text(re.sub(r'(?m)^title: .*$', 'title: "L\'État paie : 46 % en 4 minutes"',
                           item.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    publish(settings, store)
    with Service(settings, store) as service:
        feed = ET.fromstring(requests.get(f"{service.url}/feed.xml").content)
    (entry,) = feed.findall(f"{ATOM}entry")
    first = ET.fromstring(entry.findtext(f"{ATOM}content") or "").findall("li")[0].findtext("a")
    assert first == "L’État paie\u00a0: 46\u202f% en 4\u00a0minutes"
    assert (entry.findtext(f"{ATOM}summary") or "").startswith("L’État paie\u00a0:")


SENT_TITLE = "Le consommateur français résiste au numérique"
SENT_LINK = "https://www.example.org/etudes/connected-life"


def edit_after_the_send(issue_dir: Path) -> bytes:
    """What an editor did to a sent issue (issue 21): a new subject and item title, a link to another
    site, other bytes in the image file. Returns the image's bytes as sent."""
    meta = issue_dir / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace(SENT_TITLE, "Titre changé après l’envoi"),
                    encoding="utf-8")
    item = issue_dir / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace("Le service client par bot ne convainc pas", "Autre titre")
                    .replace(SENT_LINK, "https://autre-site.example.net/"), encoding="utf-8")
    image = issue_dir / "images" / "barres.png"
    sent = image.read_bytes()
    image.write_bytes(sent + b"changed after the send")
    return sent


def assert_shows_what_was_sent(service: Service, sent_image: bytes, mail_html: str = "") -> None:
    """The page, its title in the index and the feed, and its image are those of the send."""
    page = requests.get(service.url + PAGE).text
    title = re.search(r"<title>\s*(.*?)\s*</title>", page, re.S)
    assert title and title.group(1).startswith(SENT_TITLE + " ·") and SENT_LINK in page
    assert "changé" not in page and "Autre titre" not in page and "autre-site" not in page
    index = requests.get(f"{service.url}/archive/").text
    assert SENT_TITLE in index and "changé" not in index
    (entry,) = ET.fromstring(requests.get(f"{service.url}/feed.xml").content).findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == SENT_TITLE
    first = ET.fromstring(entry.findtext(f"{ATOM}content") or "").findall("li")[0].find("a")
    assert first is not None and (first.text, first.get("href")) == ("Le service client par bot ne convainc pas",
                                                                      SENT_LINK)
    (src,) = {i.get("src") for i in tags(page, "img") if "/assets/2026-11-24/" in (i.get("src") or "")}
    assert src and (not mail_html or src in mail_html)  # the very image readers' mail clients fetch
    for path in [src.replace("https://news.example.org", ""), f"{PAGE}images/barres.png"]:
        answer = requests.get(service.url + path)
        assert answer.status_code == 200 and answer.content == sent_image, path


def test_an_edit_after_the_send_changes_nothing_public(settings: Settings, store: Store, issue_dir: Path,
                                                       sink: Sink) -> None:
    publish(settings, store)
    (message,) = sink.recorder.messages
    body = message.get_body(("html",))
    assert body is not None
    sent = edit_after_the_send(issue_dir)
    send_test(settings, DAY, [Recipient("relecture@example.org", "Inès")], secret_key=SECRET)  # never counts
    with Service(settings, store) as service:
        assert_shows_what_was_sent(service, sent, body.get_content())


def test_a_later_run_of_the_send_keeps_the_page_of_the_first(settings: Settings, store: Store,
                                                             issue_dir: Path) -> None:
    add_subscriber(store, "camille.martin@example.org", now=NOW)
    add_subscriber(store, "dominique@example.org", now=NOW)
    send_issue(settings, store, DAY, secret_key=SECRET, limit=1)  # a partial send: public already
    with Service(settings, store) as service:
        sent = (issue_dir / "images" / "barres.png").read_bytes()
        assert SENT_TITLE in requests.get(service.url + PAGE).text  # read, and kept in memory, before the edit
        edit_after_the_send(issue_dir)
        send_issue(settings, store, DAY, secret_key=SECRET)  # the rest goes, with the edited files
        assert_shows_what_was_sent(service, sent)


def test_an_issue_sent_before_pages_were_kept_freezes_at_its_first_view(settings: Settings, store: Store,
                                                                        issue_dir: Path) -> None:
    publish(settings, store)
    with store.engine.begin() as conn:  # as a send made before migration 0013 left it
        conn.execute(text("DELETE FROM archive_images"))
        conn.execute(text("DELETE FROM archive_pages"))
    sent = (issue_dir / "images" / "barres.png").read_bytes()
    with Service(settings, store) as service:
        assert SENT_TITLE in requests.get(service.url + PAGE).text
    edit_after_the_send(issue_dir)
    with Service(settings, store) as service:  # another process: nothing in memory
        assert_shows_what_was_sent(service, sent)


def test_a_logo_replaced_after_the_send_still_shows_as_sent(project: Path, store: Store, sink: Sink) -> None:
    add_brand(project)
    settings = web_settings(project, sink)
    publish(settings, store)
    logo = project / "brand" / "logo.png"
    sent = logo.read_bytes()
    logo.write_bytes(sent + b"a new logo")
    with Service(settings, store) as service:
        page = requests.get(service.url + PAGE).text
        (src,) = {i.get("src") or "" for i in tags(page, "img") if "/assets/brand/" in (i.get("src") or "")}
        answer = requests.get(service.url + src.replace("https://news.example.org", ""))
    assert answer.status_code == 200 and answer.content == sent
