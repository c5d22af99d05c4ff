"""The desk's issue page lists the spelling warnings, with their suggestions, under the preview, and underlines the
unknown words under their fields (in a real headless Chromium)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.content.spelling import SpellingUnavailable, dictionary
from tests.conftest import DAY, SECRET
from tests.helpers.browser import WAIT, desk_sign_in as sign_in
from tests.helpers.desk import PASSWORD
from tests.helpers.desk_server import Desk


def test_issue_page_lists_misspelled_words_with_suggestions(project: Path,
                                                            signed_in: Callable[[str], FlaskClient]) -> None:
    try:
        dictionary("fr_FR")
    except SpellingUnavailable as err:
        pytest.skip(str(err))
    item = next(p for p in sorted((project / "issues" / DAY.isoformat()).glob("*.md")))
    item.write_text(item.read_text(encoding="utf-8") + "\nLe gouvernemnt réagit.\n", encoding="utf-8")
    page = signed_in("editor").get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    assert "gouvernemnt" in page and "gouvernement" in page and "dictionary.txt" in page


@pytest.fixture
def desk(project: Path) -> Iterator[Desk]:
    with Newsletter.open(project, environ={"NEWSLETTER_SECRET_KEY": SECRET}) as nl:
        nl.users.add("camille", "editor", PASSWORD, email="camille@example.org")
        with Desk(nl) as running:
            yield running


def _misspell(project: Path) -> Path:
    item = project / "issues" / DAY.isoformat() / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8") + "\nLe gouvernemnt réagit, et le gouvernemnt se tait.\n",
                    encoding="utf-8")
    meta = project / "issues" / DAY.isoformat() / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("subject: \"", "subject: \"Reponse : ", 1),
                    encoding="utf-8")
    return item


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 375])
def test_the_misspelled_words_are_underlined_under_their_field_with_their_suggestions(
        desk: Desk, browser: Any, project: Path, artifacts: Path, width: int) -> None:
    """In a real Chromium: each unknown word is underlined (wavy: a shape, not only a colour) in a copy of its
    field right under it; hovering or tapping it shows the check's suggestions; one of them replaces the word in
    the field; the copy follows the field as the editor types; nothing scrolls sideways at 375 px."""
    from playwright.sync_api import expect

    try:
        dictionary("fr_FR")
    except SpellingUnavailable as err:
        pytest.skip(str(err))
    _misspell(project)
    context = browser.new_context(viewport={"width": width, "height": 900}, has_touch=width < 500)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    sign_in(page, desk.url, "camille")
    page.goto(f"{desk.url}/issues/{DAY.isoformat()}")
    if width < 500:
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    body = page.locator("#item-01-bots-md-body")
    copy = page.locator("#item-01-bots-md-body-spelling")
    expect(copy).to_be_visible()
    words = copy.get_by_role("button", name="gouvernemnt", exact=True)
    expect(words).to_have_count(2)
    first = words.first
    style = first.evaluate("b => { const s = getComputedStyle(b); return [s.textDecorationLine, s.textDecorationStyle] }")
    assert style == ["underline", "wavy"]
    # The subject's unknown word too, under the subject.
    expect(page.locator("#issue-subject-spelling").get_by_role("button", name="Reponse", exact=True)).to_be_visible()
    # Its suggestions: on hover with a mouse, on a tap on a phone; said to a screen reader as its description.
    panel = page.locator("#" + str(first.get_attribute("aria-controls")))
    expect(panel).to_be_hidden()
    if width < 500:
        first.tap()
        expect(first).to_have_attribute("aria-expanded", "true")
    else:
        first.hover()
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("Peut-être")
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1  # inside the screen
    description = first.evaluate("b => document.getElementById(b.getAttribute('aria-describedby')).textContent")
    assert "gouvernement" in description
    page.screenshot(path=str(artifacts / f"desk-spelling-{width}.png"))
    # A suggestion replaces that word, and only that one, in the field; the copy now underlines the other.
    panel.get_by_role("button", name="Remplacer par gouvernement", exact=True).click()
    expect(body).to_have_value(re.compile(r"Le gouvernement réagit, et le gouvernemnt se tait\."))
    expect(words).to_have_count(1)
    expect(page.locator("#save-state")).to_have_text("Modifications non enregistrées")
    # Typing keeps the copy in step: the last unknown word fixed by hand, the copy goes away.
    body.fill(body.input_value().replace("gouvernemnt", "gouvernement"))
    expect(copy).to_be_hidden()
    context.close()


def test_without_a_script_the_page_itself_underlines_the_words(project: Path,
                                                                signed_in: Callable[[str], FlaskClient]) -> None:
    """The copy is on the page as sent (the script only keeps it in step): each unknown word a button described by
    its suggestions."""
    try:
        dictionary("fr_FR")
    except SpellingUnavailable as err:
        pytest.skip(str(err))
    _misspell(project)
    page = signed_in("editor").get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    copy = page.split('id="item-01-bots-md-body-spelling"', 1)[1].split("</div>", 1)[0]
    assert copy.count('class="misspelled"') == 2
    assert "…\nLe <span" in copy and "Près d" not in copy  # the line of the words, not the whole text
    assert re.search(r'<button type="button" class="misspelled" aria-expanded="false" aria-controls="([^"]+)" '
                     r'aria-describedby="\1">gouvernemnt</button><span class="suggestions" id="\1">Peut-être\xa0: '
                     r'[^<]*gouvernement', copy)
    assert 'id="issue-subject-spelling"' in page and page.count('class="spelling"') == 2  # the fields at fault only
