"""The desk in words an editor understands: fields by their label, dates in words, states named for what
to do, why a button is unavailable, and whether the scheduler is running."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Callable

from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.conftest import DAY

URL = f"/issues/{DAY.isoformat()}"


def visible(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_a_problem_is_placed_by_the_fields_label_not_a_file_and_line(signed_in: Callable[[str], FlaskClient],
                                                                     issue_dir: Path) -> None:
    item = issue_dir / "01-bots.md"
    item.write_text(re.sub(r'title: ".*"', 'title: ""', item.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    page = visible(signed_in("editor").get(URL).get_data(as_text=True))
    assert "Info 1 · Titre\u00a0:" in page or "Info 1 · Titre :" in page, page[:2000]
    assert "01-bots.md:2" not in page


def test_a_problem_is_said_beside_its_field_in_the_pages_words_and_the_cli_keeps_the_file_and_key(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    item = issue_dir / "01-bots.md"
    item.write_text(re.sub(r'title: ".*"', 'title: ""', item.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    (issue_dir / "issue.yaml").write_text(re.sub(r"subject: .*", 'subject: "' + "x" * 90 + '"',
                                                 (issue_dir / "issue.yaml").read_text(encoding="utf-8"), count=1),
                                          encoding="utf-8")
    html = signed_in("editor").get(URL).get_data(as_text=True)
    title = re.search(r'<input id="item-01-bots-md-title" aria-describedby="item-01-bots-md-title-problems" '
                      r'aria-invalid="true".*?</ul>', html, re.S)
    assert title, html[:3000]
    assert "«\u00a0Titre\u00a0» est obligatoire</li>" in title.group(0), title.group(0)
    subject = re.search(r'<input id="issue-subject" aria-describedby="issue-subject-problems".*?</ul>', html, re.S)
    assert subject and "«\u00a0Objet\u00a0» compte 90 caractères" in subject.group(0), subject
    page = visible(html)
    assert "Info 1 · Titre : « Titre » est obligatoire" in page, re.findall("Info 1 .{80}", page)  # split() ate the no-break spaces
    assert "title" not in page and "subject" not in page, page[:3000]
    code, out, _ = cli("check", DAY.isoformat())  # the command line still names the file, its line and the key
    assert code == 1 and "01-bots.md:2: 'title' is required, e.g. title: " in out, out


def test_an_issue_is_named_by_its_date_in_words(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    client = signed_in("editor")
    assert "<h1>Numéro du mardi 24 novembre</h1>" in client.get(URL).get_data(as_text=True)
    home = visible(client.get("/").get_data(as_text=True))
    assert "Ouvrir le numéro du mardi 24 novembre" in home and "24/11/2026" not in home, home[:2000]


def test_an_approval_is_dated_in_words(signed_in: Callable[[str], FlaskClient], nl: Newsletter) -> None:
    nl.approve(DAY, by="approver")
    page = visible(signed_in("editor").get(URL).get_data(as_text=True))
    assert "Approuvé par approver le lundi 23 novembre 2026 à 12 h 00" in page, page[:3000]


def test_the_home_page_says_tomorrow_and_names_a_failing_issue_for_what_to_do(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path) -> None:
    (issue_dir / "02-mobile.md").unlink()  # one item short: the check fails
    page = visible(signed_in("editor").get("/").get_data(as_text=True))
    assert "demain ·" in page and "à corriger" in page, page[:2000]
    assert "en échec" not in page


def test_a_greyed_out_test_copy_button_says_why(signed_in: Callable[[str], FlaskClient], issue_dir: Path) -> None:
    (issue_dir / "02-mobile.md").unlink()
    page = signed_in("editor").get(URL).get_data(as_text=True)
    assert re.search(r'<button[^>]*disabled aria-describedby="test-why"', page)
    assert "Indisponible tant que la vérification trouve un problème\u00a0: corrigez-le d’abord." in page


def test_the_schedule_page_says_whether_the_scheduler_is_running(signed_in: Callable[[str], FlaskClient],
                                                                 nl: Newsletter) -> None:
    from newsletter.store import leases

    client = signed_in("operator")
    page = visible(client.get("/schedule/").get_data(as_text=True))
    assert "Le planificateur ne tourne pas" in page
    now = nl.clock()
    leases.acquire(nl.store, "scheduler-run", now, timedelta(seconds=60))  # what `schedule run` holds while it lives
    page = visible(client.get("/schedule/").get_data(as_text=True))
    assert "Le planificateur tourne (dernier signe de vie à 12 h 00)" in page, page[:2000]
    leases.end(nl.store, "scheduler-run", now)
    page = visible(client.get("/schedule/").get_data(as_text=True))
    assert "Le planificateur ne tourne pas" in page and "Vu pour la dernière fois le lundi 23 novembre 2026" in page


def test_a_refused_save_names_the_field_by_its_label_not_its_key(signed_in: Callable[[str], FlaskClient],
                                                                 issue_dir: Path) -> None:
    from tests.helpers.desk import issue_form

    client = signed_in("editor")
    form = issue_form(client.get(URL).get_data(as_text=True))
    for field, label in (("subject", "Objet"), ("01-bots.md:title", "Titre"), ("01-bots.md:body", "Texte")):
        response = client.post(f"{URL}/save", data={**form, field: "x" * 20_001})
        page = visible(response.get_data(as_text=True))
        assert response.status_code == 400
        assert f"«\u00a0{label}\u00a0» dépasse" in response.get_data(as_text=True), page[:1500]
        assert not re.search(r"\b(?:subject|title|text) (?:is longer|dépasse)", page), page[:1500]


def test_a_drafted_items_problems_name_the_fields_by_their_labels_and_no_file_syntax(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path) -> None:
    """An item drafted from a page: quotes in its alt text, and its text still the page's description."""
    item = issue_dir / "01-bots.md"
    text = item.read_text(encoding="utf-8")
    front, _, body = text.partition("\n---\n")
    front = re.sub(r'image_alt: ".*"', r'image_alt: "Le \\"graphe\\""', front, count=1)
    item.write_text(f'{front}\ndescription: "{body.strip().splitlines()[0]}"\n---\n{body}', encoding="utf-8")
    page = visible(signed_in("editor").get(URL).get_data(as_text=True)).replace("\u00a0", " ").replace("\u202f", " ")
    assert "« Description de l’image (texte alternatif) » contient" in page, re.findall(".{60}contient.{60}", page)
    assert "réécrivez-le avec vos mots" in page, page[:3000]
    assert "image_alt" not in page and "« description »" not in page and "newsletter draft" not in page, \
        re.findall(".{80}(?:image_alt|« description »|newsletter draft).{40}", page)
