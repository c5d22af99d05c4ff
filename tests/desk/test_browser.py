"""The desk in a real headless Chromium (Debian's): an editor writes tomorrow's issue, an approver approves it.

The desk runs under waitress on 127.0.0.1 in a thread; every wait is bounded. Screenshots of the
main pages go to the test's tmp_path, or the folder given with ``--artifacts DIR``.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from newsletter import Newsletter
from newsletter.frontends.cli import main
from tests.conftest import SECRET
from tests.helpers.desk_server import Desk
from tests.helpers.desk import Clock, PASSWORD
from tests.helpers.browser import WAIT, desk_sign_in as sign_in

pytestmark = pytest.mark.browser

#: Tuesday 2026-11-24, noon in Paris: tomorrow (Wednesday 25) has no issue yet.
NOW = datetime(2026, 11, 24, 11, 0, tzinfo=timezone.utc)
TOMORROW = "2026-11-25"


def png(width: int = 8, height: int = 6) -> bytes:
    """A small, valid RGB PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def desk(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setattr("newsletter.library.project.utc_now", Clock(NOW))  # `schedule show` below reads the same clock
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl:
        nl.users.add("camille", "editor", PASSWORD, email="camille@example.org")
        nl.users.add("dominique", "approver", PASSWORD)
        with Desk(nl) as running:
            yield running


ITEMS = [
    ("Le paiement mobile progresse lentement", "Kantar TNS, Connected Life", "Un Français sur cinq paie avec son téléphone."),
    ("Les bots ne convainquent pas", "Kantar TNS, Connected Life", "Près d’un client sur deux préfère un humain."),
    ("Les réseaux sociaux lassent", "Kantar TNS, Connected Life", "Les marques y perdent en confiance."),
    ("Les objets connectés inquiètent", "Forrester, 2018", "La sécurité freine l’achat."),
    ("La culture de l’échec s’installe", "PwC, Digital IQ", "Les dirigeants acceptent mieux les essais manqués."),
]


def test_an_editor_writes_tomorrows_issue_and_an_approver_makes_it_ready(
        desk: Desk, browser: Any, project: Path, artifacts: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    sign_in(page, desk.url, "camille")
    page.screenshot(path=str(artifacts / "desk-home.png"))

    page.get_by_role("button", name="Créer le numéro du mercredi 25 novembre").click()
    page.wait_for_url(f"{desk.url}/issues/{TOMORROW}", timeout=WAIT)
    expect(page.locator("ul.problems li.error").first).to_be_visible()

    page.get_by_label("Objet").fill("Cinq regards sur le client connecté")
    page.get_by_label("Texte d’aperçu (preheader)").fill("Paiement mobile, bots, réseaux sociaux, objets, échec.")
    page.locator("#issue").get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").first).to_have_text("Enregistré.")

    for n, (title, source, body) in enumerate(ITEMS, start=1):
        card = page.locator(f"#item-{n:02d}-info-{n}-md")
        card.get_by_label("Titre").fill(title)
        expect(card.locator("[data-count=chars]")).to_have_text(f"{len(title)} / 100")  # counted as typed
        card.get_by_label("Source").fill(source)
        card.get_by_label("Texte (Markdown)").fill(body)
        card.get_by_role("button", name="Enregistrer").click()
        expect(page.get_by_role("status").first).to_have_text("Enregistré.")

    image = tmp_path / "paiement.png"
    image.write_bytes(png(1200, 600))  # sharp: at least twice the 544 px it is shown at
    card = page.locator("#item-01-info-1-md")
    card.get_by_label("Téléverser une image (PNG, JPEG ou GIF)").set_input_files(str(image))
    card.get_by_label("Ce que montre l’image (texte alternatif, obligatoire)").fill("Un téléphone qui paie")
    card.get_by_role("button", name="Téléverser l’image").click()
    expect(page.get_by_role("status").first).to_contain_text("images/paiement.png")

    expect(page.locator("#no-problems")).to_be_visible()  # every problem of the stubs is gone
    frame = page.frame_locator("iframe.w375")
    expect(frame.get_by_text("Les bots ne convainquent pas")).to_be_visible()
    shown = frame.get_by_alt_text("Un téléphone qui paie")
    expect(shown).to_be_visible()
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 1200  # the uploaded image, served to the frame
    page.screenshot(path=str(artifacts / "desk-issue.png"))
    page.get_by_role("button", name="Se déconnecter").click()

    sign_in(page, desk.url, "dominique")
    expect(page.locator("li.state-waiting-approval .badge").first).to_have_text("en attente de validation")
    page.get_by_role("link", name="Ouvrir le numéro du mercredi 25 novembre").click()
    page.get_by_role("button", name="Valider ce numéro").click()
    expect(page.locator('[data-approval="current"]')).to_contain_text("Approuvé par dominique")

    phone = browser.new_context(viewport={"width": 375, "height": 800}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{desk.url}/issues/{TOMORROW}")
    assert small.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # no sideways scrolling at 375 px
    small.screenshot(path=str(artifacts / "desk-issue-375.png"), full_page=False)
    phone.close()
    context.close()

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), "schedule", "show"])
    line = next(line for line in printed.getvalue().splitlines() if TOMORROW in line)
    assert code == 0 and " ready " in line + " ", printed.getvalue()


def test_two_editors_on_one_item_the_later_save_is_refused_and_nothing_is_overwritten(
        desk: Desk, browser: Any, project: Path) -> None:
    from playwright.sync_api import expect

    from tests.conftest import DAY

    pages = []
    for name in ("camille", "camille"):  # the same account in two browsers: the versions decide, not the names
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT)
        sign_in(page, desk.url, name)
        page.goto(f"{desk.url}/issues/{DAY.isoformat()}")
        pages.append(page)
    first, second = pages
    card = "#item-01-bots-md"
    first.locator(card).get_by_label("Texte (Markdown)").fill("Le texte de la première rédactrice.")
    first.locator(card).get_by_role("button", name="Enregistrer").click()
    expect(first.get_by_role("status").first).to_have_text("Enregistré.")
    second.locator(card).get_by_label("Texte (Markdown)").fill("Le texte de la seconde.")
    second.locator(card).get_by_role("button", name="Enregistrer").click()
    expect(second.get_by_role("alert").first).to_contain_text("rien n’a été écrasé")
    expect(second.locator(card).get_by_label("Texte (Markdown)")).to_have_value("Le texte de la seconde.")
    saved = (project / "issues" / DAY.isoformat() / "01-bots.md").read_text(encoding="utf-8")
    assert "Le texte de la première rédactrice." in saved and "seconde" not in saved
    for page in pages:
        page.context.close()


def test_signing_in_and_creating_an_issue_work_from_the_keyboard_alone(desk: Desk, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.set_default_timeout(WAIT)
    page.goto(f"{desk.url}/login")

    def tab_to(selector: str) -> None:
        for _ in range(30):  # bounded: the element must be reachable within 30 presses of Tab
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    tab_to("#name")
    page.keyboard.type("camille")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(desk.url + "/", timeout=WAIT)
    tab_to(f"form input[value='{TOMORROW}'] ~ button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk.url}/issues/{TOMORROW}", timeout=WAIT)
    expect(page.get_by_role("status").first).to_contain_text("Numéro du mercredi 25 novembre créé")
    page.close()
