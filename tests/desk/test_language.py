"""The desk speaks one language: check's problems, the library's refusals and the desk's own words alike."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from newsletter import Newsletter
from newsletter.frontends.desk.app import create_app
from tests.conftest import DAY, SECRET
from tests.helpers.desk import Clock, PASSWORD, csrf_token, sign_in

#: What a failing item, a stale approval and refused saves produce, in each language (and never in the other).
SAID = {
    "fr_FR": ["« Titre » compte 122 caractères ; ne dépassez pas", "la clé inconnue « auteur » est ignorée",
              "approuvé par Alex le", "mais modifié depuis (01-bots.md)", "avertissement :",
              "« Objet » dépasse 2000 caractères",
              "a été modifié par quelqu’un d’autre depuis que vous l’avez ouvert"],
    "en_GB": ["'Title' has 122 characters; keep it to", "unknown key 'auteur' is ignored",
              "approved by Alex on", "but changed since (01-bots.md)", "warning:",
              "Subject is longer than 2000 characters",
              "was changed by someone else since you opened it"],
}


def _visible(page: str) -> str:
    """The page's text as read (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize(("locale", "other"), [("fr_FR", "en_GB"), ("en_GB", "fr_FR")])
def test_problems_and_refusals_are_in_the_newsletters_language(project: Path, issue_dir: Path, clock: Clock,
                                                                locale: str, other: str) -> None:
    from tests.helpers.locales import set_locale

    set_locale(project, locale)
    with Newsletter.open(project, clock=clock) as nl:
        nl.users.add("editor", "editor", PASSWORD)
        nl.approve(DAY, by="Alex")
        item = issue_dir / "01-bots.md"
        text = item.read_text(encoding="utf-8")
        item.write_text(re.sub(r'title: ".*"', 'title: "' + "Long titre " * 11 + 'x"', text, count=1)
                        .replace("tag:", "auteur: \"Camille\"\ntag:"), encoding="utf-8")
        client = create_app(nl, SECRET).test_client()
        sign_in(client, "editor")
        url = f"/issues/{DAY.isoformat()}"
        page = client.get(url).get_data(as_text=True)
        version = re.search(r'name="version" value="([0-9a-f]*)"', page).group(1)  # type: ignore[union-attr]
        token = csrf_token(client, url)
        too_long = client.post(f"{url}/save", data={"csrf_token": token, "version": version, "subject": "x" * 2001,
                                                     "preheader": "p"}, follow_redirects=True)
        (issue_dir / "issue.yaml").write_text((issue_dir / "issue.yaml").read_text(encoding="utf-8") + "# moi\n",
                                              encoding="utf-8")
        outdated = client.post(f"{url}/save", data={"csrf_token": token, "version": version, "subject": "Objet",
                                                     "preheader": "p"})
        said = " ".join(_visible(p) for p in (page, too_long.get_data(as_text=True),
                                              outdated.get_data(as_text=True)))
    said = " ".join(said.split())
    missing = [phrase for phrase in SAID[locale] if phrase not in said]
    assert not missing, said[:3000]
    mixed = [phrase for phrase in SAID[other] if phrase in said]
    assert not mixed, mixed


@pytest.mark.parametrize(("locale", "said", "not_said"), [
    ("fr_FR", "est un classeur Excel (.xlsx), pas un fichier CSV", "is an Excel workbook"),
    ("en_GB", "is an Excel workbook (.xlsx), not a CSV file", "classeur Excel"),
])
def test_an_import_refusal_is_in_the_newsletters_language(project: Path, clock: Clock, locale: str, said: str,
                                                          not_said: str) -> None:
    import io

    from tests.helpers.locales import set_locale

    set_locale(project, locale)
    with Newsletter.open(project, clock=clock) as nl:
        nl.users.add("operator", "operator", PASSWORD)
        client = create_app(nl, SECRET).test_client()
        sign_in(client, "operator")
        token = csrf_token(client, "/subscribers/")
        page = client.post("/subscribers/import", data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04 rest"),
                                                                                       "abonnes.xlsx")},
                           content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    text = " ".join(_visible(page).split())
    assert said in text and not_said not in text, text[:2000]


@pytest.mark.parametrize(("locale", "said", "not_said"), [
    ("fr_FR", ["ressemble à une formule de tableur", "n’est pas une adresse valide", "la date de consentement"],
     ["spreadsheet formula", "is not a valid address", "consent date"]),
    ("en_GB", ["looks like a spreadsheet formula", "is not a valid address", "consent date"],
     ["tableur", "n’est pas une adresse", "consentement"]),
])
def test_an_import_summary_gives_the_rejected_rows_reasons_in_the_newsletters_language(
        project: Path, clock: Clock, locale: str, said: list[str], not_said: list[str]) -> None:
    import io

    from tests.helpers.locales import set_locale

    set_locale(project, locale)
    csv = "email,consent_at\n=HYPERLINK(1),\nnot an address,\nok@example.org,hier\nfine@example.org,\n"
    with Newsletter.open(project, clock=clock) as nl:
        nl.users.add("operator", "operator", PASSWORD)
        client = create_app(nl, SECRET).test_client()
        sign_in(client, "operator")
        token = csrf_token(client, "/subscribers/")
        page = client.post("/subscribers/import", data={"csrf_token": token, "file": (io.BytesIO(csv.encode()),
                                                                                       "abonnes.csv")},
                           content_type="multipart/form-data").get_data(as_text=True)
    text = " ".join(_visible(page).split())
    assert all(phrase in text for phrase in said), text[:3000]
    assert not any(phrase in text for phrase in not_said), [p for p in not_said if p in text]
