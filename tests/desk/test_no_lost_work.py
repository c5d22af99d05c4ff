"""The desk in a real headless Chromium, as an editor used to Substack or Buttondown expects it: one save
keeps everything typed, leaving with unsaved text asks first, a removed item comes back with one click,
counters and the link dialog work as typed, and no page scrolls sideways on a 375 px phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from newsletter import Newsletter
from tests.conftest import DAY, SECRET
from tests.helpers.browser import WAIT, desk_sign_in as sign_in
from tests.helpers.desk import NOW, Clock, PASSWORD
from tests.helpers.desk_server import Desk

pytestmark = pytest.mark.browser

ISSUE = f"/issues/{DAY.isoformat()}"


@pytest.fixture
def desk(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setattr("newsletter.library.project.utc_now", Clock(NOW))
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl:
        nl.users.add("camille", "editor", PASSWORD, email="camille@example.org")
        nl.users.add("olivia", "operator", PASSWORD, email="olivia@example.org")
        for n in range(12):  # long addresses and names: the table must still fit a phone
            nl.subscribers.add(f"une.adresse.vraiment.tres.longue.{n}@un-domaine-de-messagerie.example.org",
                               first_name="Marie-Dominique", last_name="de La Rochefoucauld-Liancourt")
        with Desk(nl) as running:
            yield running


def page_of(browser: Any, desk: Desk, name: str = "camille", width: int = 1400) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    sign_in(page, desk.url, name)
    return page


def test_typing_a_subject_then_an_items_title_and_saving_once_keeps_both(desk: Desk, browser: Any,
                                                                        issue_dir: Path) -> None:
    from playwright.sync_api import expect

    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    page.get_by_label("Objet").click()
    page.get_by_label("Objet").fill("Un objet tout neuf")
    card = page.locator("#item-01-bots-md")
    card.get_by_label("Titre").fill("Un titre tout neuf")
    expect(page.locator("#save-state")).to_have_text("Modifications non enregistrées")
    card.get_by_role("button", name="Enregistrer").click()  # the item's own button saves the whole page
    expect(page.get_by_role("status").first).to_have_text("Enregistré.")
    assert 'subject: "Un objet tout neuf"' in (issue_dir / "issue.yaml").read_text(encoding="utf-8")
    assert 'title: "Un titre tout neuf"' in (issue_dir / "01-bots.md").read_text(encoding="utf-8")
    expect(page.get_by_label("Objet")).to_have_value("Un objet tout neuf")
    page.context.close()


def test_leaving_a_page_with_unsaved_text_asks_first_and_keeps_the_text(desk: Desk, browser: Any) -> None:
    from playwright.sync_api import expect

    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    field = page.locator("#item-01-bots-md").get_by_label("Titre")
    field.click()
    page.keyboard.press("End")
    page.keyboard.type(" (suite)")
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", answer)
    page.get_by_role("link", name="Retour aux prochains numéros").click()
    page.wait_for_timeout(300)  # the dismissed navigation does not happen: nothing to wait for but time
    assert asked == ["beforeunload"]
    assert page.url == desk.url + ISSUE
    expect(field).to_have_value("Le service client par bot ne convainc pas (suite)")
    page.context.close()


def test_after_a_save_leaving_asks_nothing(desk: Desk, browser: Any) -> None:
    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    page.locator("#item-01-bots-md").get_by_label("Titre").click()
    page.keyboard.type("!")
    page.locator(".savebar").get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(desk.url + ISSUE, timeout=WAIT)
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("link", name="Retour aux prochains numéros").click()
    page.wait_for_url(desk.url + "/", timeout=WAIT)
    assert asked == []
    page.context.close()


def test_a_removed_item_comes_back_in_its_place_with_undo(desk: Desk, browser: Any, issue_dir: Path) -> None:
    from playwright.sync_api import expect

    before = {path.name: path.read_bytes() for path in issue_dir.glob("*.md")}
    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    page.locator("#item-02-mobile-md").get_by_role("button", name="Supprimer cette info").click()
    undo = page.locator("#undo")
    expect(undo).to_contain_text("supprimée")
    assert sorted(path.name for path in issue_dir.glob("*.md")) == ["01-bots.md", "02-reseaux.md",
                                                                    "03-forrester.md", "04-pwc.md"]
    expect(page.locator("ul.problems")).to_contain_text("Il manque une info.")
    expect(page.locator("ul.problems")).not_to_contain_text("newsletter new")
    undo.get_by_role("button", name="Annuler").click()
    expect(page.get_by_role("status").first).to_have_text("L’info est revenue à sa place.")
    assert {path.name: path.read_bytes() for path in issue_dir.glob("*.md")} == before
    expect(page.locator("#item-02-mobile-md")).to_be_visible()
    page.goto(desk.url + ISSUE + "?removed=" + "0" * 16)  # nothing by that token: no undo offered
    expect(page.locator("#undo")).to_have_count(0)
    page.context.close()


def test_the_subject_and_preheader_are_counted_as_typed(desk: Desk, browser: Any) -> None:
    from playwright.sync_api import expect

    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    subject = page.get_by_label("Objet")
    subject.fill("x" * 80)
    counter = page.locator('label[for="issue-subject"] [data-count]')
    expect(counter).to_have_text("80 / 78")
    expect(counter).to_have_class("count over")
    page.get_by_label("Texte d’aperçu (preheader)").fill("Court")
    expect(page.locator('label[for="issue-preheader"] [data-count]')).to_have_text("5 / 110")
    page.context.close()


def test_the_link_button_asks_for_the_text_and_the_address(desk: Desk, browser: Any) -> None:
    from playwright.sync_api import expect

    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    card = page.locator("#item-01-bots-md")
    body = card.get_by_label("Texte (Markdown)")
    body.fill("")
    card.get_by_role("button", name="Lien", exact=True).click()
    dialog = page.locator("#link-dialog")
    dialog.get_by_label("Texte du lien").fill("l’étude")
    dialog.get_by_label("Adresse (https://…)").fill("https://example.org/etude")
    dialog.get_by_role("button", name="Ajouter le lien").click()
    expect(body).to_have_value("[l’étude](https://example.org/etude)")
    page.context.close()


def test_a_merge_field_is_inserted_from_a_menu_said_in_words_and_check_accepts_it(desk: Desk, browser: Any,
                                                                                 issue_dir: Path) -> None:
    """The menu lists the fields check knows and asks for the fallback in words; whatever the fallback holds
    (quotes of both kinds, braces, a line break), the desk writes a field check reads back exactly, and
    the text around it is untouched."""
    from playwright.sync_api import expect

    from newsletter.core.merge import find_fields

    page = page_of(browser, desk)
    page.goto(desk.url + ISSUE)
    card = page.locator("#item-01-bots-md")
    body = card.get_by_label("Texte (Markdown)")
    body.fill("Bonjour , {a, b} et \"Big Data\".")
    body.evaluate("area => area.setSelectionRange(8, 8)")
    card.get_by_role("button", name="Insérer un champ").click()
    dialog = page.locator("#merge-dialog")
    field = dialog.get_by_label("Champ")
    assert field.locator("option").all_inner_texts() == ["le prénom du lecteur", "le nom du lecteur",
                                                         "l’adresse du lecteur"]
    expect(dialog.get_by_label("Pour qui n’en a pas, écrire à la place\u00a0:")).to_have_value("lectrice, lecteur")
    field.select_option("last_name")
    expect(dialog.get_by_label("Pour qui n’en a pas, écrire à la place\u00a0:")).to_have_value("")
    dialog.get_by_label("Pour qui n’en a pas, écrire à la place\u00a0:").fill('l’équipe "X" d\'{ici}')
    dialog.get_by_role("button", name="Insérer", exact=True).click()
    expect(body).to_have_value(
        "Bonjour {{ last_name | default(\"l’équipe «\u00a0X\u00a0» d'ici\") }}, {a, b} et \"Big Data\".")
    said = card.locator(".merge-said")
    expect(said).to_contain_text("le nom du lecteur")
    expect(said).to_contain_text("l’équipe «\u00a0X\u00a0» d'ici")
    card.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status").first).to_have_text("Enregistré.")
    body_text = (issue_dir / "01-bots.md").read_text(encoding="utf-8").split("\n---\n", 1)[1]
    uses = find_fields(body_text)
    assert [(u.field, u.default, u.error) for u in uses] == [("last_name", "l’équipe «\u00a0X\u00a0» d'ici", "")]
    assert body_text.startswith("Bonjour {{") and body_text.rstrip().endswith(', {a, b} et "Big Data".')
    assert not [p for p in page.locator("ul.problems li").all_inner_texts() if "fusion" in p or "champ" in p]
    page.context.close()


def test_on_a_phone_no_desk_page_scrolls_sideways_and_the_preview_is_one_tap_away(desk: Desk,
                                                                                 browser: Any) -> None:
    from playwright.sync_api import expect

    page = page_of(browser, desk, "olivia", width=375)
    wide = []
    for path in ("/", ISSUE, "/subscribers/", "/schedule/", "/brand", "/sends/2026-11-24/resend", "/nowhere"):
        page.goto(desk.url + path)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if widths[0] > widths[1]:
            wide.append((path, widths))
    assert wide == []
    page.goto(desk.url + ISSUE)
    preview = page.locator("iframe.w375")
    expect(preview).to_be_hidden()
    page.get_by_role("button", name="Vérification et aperçu").click()
    expect(preview).to_be_visible()
    expect(page.get_by_label("Objet")).to_be_hidden()
    page.get_by_role("button", name="Contenu").click()
    expect(page.get_by_label("Objet")).to_be_visible()
    page.context.close()


def test_on_a_phone_nothing_inside_a_page_scrolls_sideways_either(desk: Desk, browser: Any) -> None:
    """A table's scroll box hides what sticks out (the subscribers' frequency menu): the page itself does not
    scroll, but its content does; at 375 px neither may."""
    page = page_of(browser, desk, "olivia", width=375)
    wide = []
    for path in ("/", ISSUE, "/subscribers/", "/schedule/", "/users/", "/lecture/", "/sends/2026-11-24/resend"):
        page.goto(desk.url + path)
        wide += [(path, box) for box in page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.tagName !== 'TEXTAREA' && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                    && e.scrollWidth > e.clientWidth + 1)
            .map(e => `${e.tagName}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)""")]
    assert wide == []
    page.context.close()
