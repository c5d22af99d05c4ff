"""« Lecture »: an issue's reading view and the 30-day view, their SVG charts, in the test client and in
a real headless Chromium at 375 px (screenshots in the test artifacts)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.delivery.engine import send_issue
from newsletter.store.clicks import ClickRow, links_of, record
from newsletter.store.subscribers import add_subscriber
from tests.conftest import DAY, SECRET
from tests.helpers.desk import PASSWORD
from tests.helpers.desk_server import Desk

SENT = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
LATER = SENT + timedelta(days=2)
WAIT = 15_000  # ms


def sent_and_read(nl: Newsletter) -> None:
    """Ten readers; people click items 1 and 3, a scanner runs through one message's links."""
    for n in range(10):
        add_subscriber(nl.store, f"reader{n}@example.org", now=SENT)
    send_issue(nl.settings, nl.store, DAY, secret_key=SECRET, clock=lambda: SENT)
    key = DAY.isoformat()
    linked = [(link.position, link.link) for link in links_of(nl.store, key) if link.link != "-"]
    people = [ClickRow(key, 1, "0", f"person{n:07d}", SENT + timedelta(minutes=30 + n)) for n in range(4)]
    people += [ClickRow(key, 3, "0", "person0000000", SENT + timedelta(hours=2))]
    scanner = [ClickRow(key, position, link, "scanner00000", SENT + timedelta(minutes=5, milliseconds=200 * n))
               for n, (position, link) in enumerate(linked)]
    record(nl.store, people + scanner)


def test_the_reading_of_an_issue_shows_each_items_readers_and_the_scanners_apart(
        nl: Newsletter, signed_in: Callable[[str], FlaskClient], clock: Any) -> None:
    clock.now = LATER
    sent_and_read(nl)
    page = signed_in("editor").get(f"/lecture/{DAY.isoformat()}").get_data(as_text=True)
    assert "Lecture du" in page and "<svg" in page and "<script" not in page.split("</head>")[1]
    assert "10 envoyés, 4 lecteurs (40,0 %). 3 requêtes de filtres" in page.replace("\u202f", " ").replace("\xa0", " "), re.findall("reading-summary.{0,200}", page)
    # Item 1: 4 readers and 1 scanner's request, the longest bar (4 + 1 = 100 %), the scanner's part apart.
    assert '<rect x="0" y="0" width="80.0" height="10" fill="#1f5f8b"/>' in page
    assert '<rect x="80.0" y="0" width="20.0" height="10" fill="#c9a227"/>' in page
    assert "Le service client par bot ne convainc pas" in page
    assert signed_in("editor").get("/lecture/2026-13-40").status_code == 404
    assert "n’ont pas été comptés" in signed_in("editor").get("/lecture/2026-11-20").get_data(as_text=True)
    days = signed_in("approver").get("/lecture/").get_data(as_text=True)
    assert "30 derniers jours" in days and 'class="reading-columns"' in days and "Par rubrique" in days
    assert f'href="/lecture/{DAY.isoformat()}"' in days


@pytest.mark.browser
def test_the_reading_views_in_chromium_at_375_px(project: Path, browser: Any, artifacts: Path) -> None:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}, clock=lambda: LATER) as nl:
        nl.users.add("camille", "editor", PASSWORD)
        sent_and_read(nl)
        with Desk(nl) as desk:
            context = browser.new_context(viewport={"width": 375, "height": 800})
            page = context.new_page()
            page.set_default_timeout(WAIT)
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(desk.url + "/")
            page.get_by_label("Nom du compte").fill("camille")
            page.get_by_label("Mot de passe").fill(PASSWORD)
            page.get_by_role("button", name="Connexion").click()
            page.wait_for_url(desk.url + "/", timeout=WAIT)
            page.get_by_role("link", name="Lecture").first.click()
            page.wait_for_url(desk.url + "/lecture/", timeout=WAIT)
            assert page.locator("svg.reading-columns rect").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 376  # no sideways scrolling
            page.screenshot(path=str(artifacts / "desk-reading-30-days-375.png"), full_page=True)
            page.get_by_role("link", name="mardi 24 novembre", exact=True).click()
            page.wait_for_url(f"{desk.url}/lecture/{DAY.isoformat()}", timeout=WAIT)
            bars = page.locator("svg.reading-bar")
            assert bars.count() == 5
            widths = bars.evaluate_all("svgs => svgs.map(s => s.getBoundingClientRect().width)")
            assert min(widths) > 80  # every bar readable at 375 px
            assert page.evaluate("document.documentElement.scrollWidth") <= 376
            assert "reading.css" in page.evaluate("[...document.styleSheets].map(s => s.href).join(' ')")
            page.screenshot(path=str(artifacts / "desk-reading-issue-375.png"), full_page=True)
            assert not refused, refused
            context.close()


def test_the_reading_views_say_dates_in_words_counts_with_their_plural_and_percents_the_french_way(
        nl: Newsletter, signed_in: Callable[[str], FlaskClient], clock: Any) -> None:
    clock.now = LATER
    add_subscriber(nl.store, "seule@example.org", now=SENT)
    send_issue(nl.settings, nl.store, DAY, secret_key=SECRET, clock=lambda: SENT)
    days = signed_in("editor").get("/lecture/").get_data(as_text=True)
    assert f">mardi 24 novembre</a> — 1 envoyé, 0 lecteur<" in days, days[-1500:]
    assert f">{DAY.isoformat()}<" not in days and "0,0\u202f%" in days and "0,0%" not in days
    one = signed_in("editor").get(f"/lecture/{DAY.isoformat()}").get_data(as_text=True)
    assert "1 envoyé, 0 lecteur (0,0\u202f%). 0 requête de filtres de sécurité mise à part." in one, one[-3000:]
