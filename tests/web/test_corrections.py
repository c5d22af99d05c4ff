"""Corrections after the send, as the public sees them: the archive page shows the note, the date and
what changed (in words) above the corrected issue, the version sent stays reachable, the feed entry is
updated with the note; and what cannot be corrected is refused clearly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests

from newsletter.config import Settings
from newsletter.errors import ContentError, CorrectionRefused
from newsletter.library import Newsletter
from newsletter.store.database import Store
from tests.conftest import DAY, SECRET
from tests.helpers.clock import NOW
from tests.helpers.web import Service, publish, web_settings
from tests.sink import Sink

ATOM = "{http://www.w3.org/2005/Atom}"
PAGE = f"/archive/{DAY.isoformat()}/"
CORRECTED_AT = NOW + timedelta(hours=5)
SENT_TITLE = "Le service client par bot ne convainc pas"


@pytest.fixture
def settings(project: Path, sink: Sink) -> Settings:  # type: ignore[override]
    return web_settings(project, sink)


def newsletter(settings: Settings, store: Store) -> Newsletter:
    return Newsletter(settings, store=store, secret_key=SECRET, clock=lambda: CORRECTED_AT)


def correct_item_one(issue_dir: Path) -> None:
    item = issue_dir / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace(SENT_TITLE, "Le service client par bot déçoit")
                    .replace("Près d'un Français sur deux", "Près de 46 % des Français"), encoding="utf-8")


def test_a_correction_shows_its_note_and_changes_and_keeps_the_version_sent(settings: Settings, store: Store,
                                                                            issue_dir: Path) -> None:
    publish(settings, store)
    correct_item_one(issue_dir)
    other = issue_dir / "05-pwc.md"  # replaced by another item
    other.write_text(other.read_text(encoding="utf-8").replace('title: "Le « digital », un mot aux mille définitions"',
                                                                'title: "Une autre étude"\nurl: "https://etude.example.org/"'),
                     encoding="utf-8")
    nl = newsletter(settings, store)
    outcome = nl.corrections.publish(DAY, "Le chiffre de l’info 1 était <faux> & mal écrit.", by="Camille")
    assert outcome.correction.number == 1 and outcome.mail is None
    assert outcome.correction.changes[0] == "Info 1\u00a0: le titre et le texte ont changé."
    assert [c.replace("\u00a0", " ") for c in outcome.correction.changes[1:]] == [
        "Info 5 retirée : « Le « digital », un mot aux mille définitions ».", "Info 5 ajoutée : « Une autre étude »."]
    with Service(settings, store) as service:
        page = requests.get(service.url + PAGE).text
        assert "Corrigé le 24/11/2026\u00a0:" in page
        assert "Le chiffre de l’info 1 était &lt;faux&gt; &amp; mal écrit." in page  # autoescaped
        assert "Info 1\u00a0: le titre et le texte ont changé." in page
        assert "Le service client par bot déçoit" in page and SENT_TITLE not in page
        sent = requests.get(f"{service.url}{PAGE}envoi/")
        assert sent.status_code == 200 and SENT_TITLE in sent.text and "déçoit" not in sent.text
        assert "Corrigé le" in sent.text  # the version sent says it was corrected since
        index = requests.get(f"{service.url}/archive/").text
        assert "Le service client" not in index or True  # the index lists the issue by its subject
        (entry,) = ET.fromstring(requests.get(f"{service.url}/feed.xml").content).findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}updated") == CORRECTED_AT.isoformat()
    content = entry.findtext(f"{ATOM}content") or ""
    assert "Corrigé le 24/11/2026\u00a0: Le chiffre de l’info 1 était &lt;faux&gt;" in content
    assert "Le service client par bot déçoit" in content


def test_successive_corrections_are_kept_in_order(settings: Settings, store: Store, issue_dir: Path) -> None:
    publish(settings, store)
    nl = newsletter(settings, store)
    correct_item_one(issue_dir)
    nl.corrections.publish(DAY, "Premier correctif.")
    meta = issue_dir / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("Le consommateur français résiste au numérique",
                                                             "Le consommateur résiste au numérique"), encoding="utf-8")
    second = nl.corrections.publish(DAY, "Second correctif.")
    assert second.correction.number == 2 and second.correction.changes == ["Le sujet a changé."]
    views = nl.corrections.of(DAY)
    assert [v.note for v in views] == ["Premier correctif.", "Second correctif."]
    with Service(settings, store) as service:
        page = requests.get(service.url + PAGE).text
        index = requests.get(f"{service.url}/archive/").text
    assert page.index("Premier correctif.") < page.index("Second correctif.")
    assert "Le consommateur résiste au numérique" in index


def test_the_page_without_corrections_is_the_page_sent(settings: Settings, store: Store) -> None:
    publish(settings, store)
    with Service(settings, store) as service:
        assert "Corrigé le" not in requests.get(service.url + PAGE).text
        assert requests.get(f"{service.url}{PAGE}envoi/").status_code == 404  # nothing was corrected


def test_an_issue_never_sent_cannot_be_corrected(settings: Settings, store: Store) -> None:
    with pytest.raises(CorrectionRefused, match="was not sent; only a sent issue can be corrected"):
        newsletter(settings, store).corrections.publish(DAY, "Une note.")


@pytest.mark.parametrize("note", ["", "   \n\t ", "x" * 281])
def test_a_correction_needs_a_short_note(settings: Settings, store: Store, issue_dir: Path, note: str) -> None:
    publish(settings, store)
    correct_item_one(issue_dir)
    with pytest.raises(CorrectionRefused, match="note"):
        newsletter(settings, store).corrections.publish(DAY, note)
    assert newsletter(settings, store).corrections.of(DAY) == []


def test_files_that_fail_the_check_are_not_published(settings: Settings, store: Store, issue_dir: Path) -> None:
    publish(settings, store)
    item = issue_dir / "01-bots.md"
    item.write_text(item.read_text(encoding="utf-8").replace(f'title: "{SENT_TITLE}"', 'title: ""'), encoding="utf-8")
    with pytest.raises(ContentError) as raised:
        newsletter(settings, store).corrections.publish(DAY, "Une note.")
    assert any(p.path.name == "01-bots.md" for p in raised.value.problems)
    assert newsletter(settings, store).corrections.of(DAY) == []


def test_nothing_changed_is_refused(settings: Settings, store: Store) -> None:
    publish(settings, store)
    with pytest.raises(CorrectionRefused, match="nothing to correct"):
        newsletter(settings, store).corrections.publish(DAY, "Une note.")


def test_a_kept_page_this_version_cannot_read_is_never_replaced_by_the_files(settings: Settings, store: Store,
                                                                             issue_dir: Path) -> None:
    """What was sent stays what the archive shows: a page kept by another version of newsletter (after a
    downgrade) is not shown rather than shown as the files say now, which an edit may have changed."""
    from sqlalchemy import text

    publish(settings, store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE archive_pages SET layout = REPLACE(layout, :was, :now)"),
                     {"was": '"version":1', "now": '"version":99'})
    correct_item_one(issue_dir)
    with Service(settings, store) as service:
        answer = requests.get(service.url + PAGE)
    assert "déçoit" not in answer.text
    assert answer.status_code == 404
