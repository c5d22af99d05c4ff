"""The desk's « Ajouter depuis un lien » and the links' states, against pages served on 127.0.0.1."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from tests.conftest import DAY
from tests.helpers.config import set_options
from tests.helpers.desk import csrf_token
from tests.helpers.french import typeset
from tests.helpers.pages import Answer, Pages, links_to, local_site

NEW_DAY = date(2026, 11, 25)
NEW = f"/issues/{NEW_DAY.isoformat()}"
URL = f"/issues/{DAY.isoformat()}"
ARTICLE = """<!doctype html><html><head><meta charset="utf-8"><title>Repli | Le Site</title>
<meta property="og:title" content="Les ventes en ligne progressent encore">
<meta property="og:site_name" content="Le Journal du commerce">
<meta property="og:description" content="Selon une étude publiée ce mardi, les ventes ont augmenté.">
<link rel="canonical" href="/articles/1"></head><body><p>Texte.</p></body></html>""".encode()


@pytest.fixture
def site(project: Path) -> Iterator[Pages]:
    """The local site, set up before the desk reads the configuration (list it before ``signed_in``)."""
    with local_site(project) as pages:
        pages.routes["/articles/1"] = Answer(ARTICLE)
        pages.routes["/missing"] = Answer(b"gone", 404, {"Content-Type": "text/plain"})
        pages.routes["/huge"] = Answer(b"x" * 3_000_000)
        pages.routes["/pdf"] = Answer(b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
        pages.routes["/loop"] = Answer(b"", 302, {"Location": "/loop"})
        yield pages


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _draft(client: FlaskClient, url: str, page: str = NEW) -> tuple[int, str, str]:
    response = client.post(f"{page}/draft", data={"url": url, "csrf_token": csrf_token(client, page)})
    return response.status_code, response.headers.get("Location", ""), html.unescape(response.get_data(as_text=True))


def test_a_link_drafts_the_next_free_item_and_shows_it_to_edit(site: Pages, signed_in: Callable[[str], FlaskClient],
                                                               nl: Newsletter) -> None:
    nl.new_issue(NEW_DAY)
    client = signed_in("editor")
    assert 'action="/issues/2026-11-25/draft"' in client.get(NEW).get_data(as_text=True)
    status, location, said = _draft(client, site.url("/articles/1"))
    assert status == 302 and location.endswith(f"{NEW}#item-01-les-ventes-en-ligne-progressent-encore-md"), said
    written = (nl.settings.issues_dir / NEW_DAY.isoformat() / "01-les-ventes-en-ligne-progressent-encore.md")
    text = written.read_text(encoding="utf-8")
    assert 'title: "Les ventes en ligne progressent encore"' in text and 'source: "Le Journal du commerce"' in text
    assert f'url: "{site.url("/articles/1")}"' in text
    page = html.unescape(client.get(NEW).get_data(as_text=True))
    assert typeset("Info rédigée depuis le lien : vérifiez-la et récrivez son texte avec vos propres mots.") in page
    assert 'value="Les ventes en ligne progressent encore"' in page


BAD = [
    ("/missing", "le serveur a répondu 404"),
    ("/huge", "au-delà des 1953 Ko lus"),
    ("/pdf", "ce n’est pas une page web (son type est application/pdf)"),
    ("/loop", "plus de 5 redirections (une boucle ?)"),
    ("http://127.0.0.1:9/nothing", "le serveur ne répond pas"),
    ("https://example.org/un article", "contient une espace ou un saut de ligne"),
    ("http://a\u200db.example/", "n’est pas un nom de domaine international valide"),
]


@pytest.mark.parametrize("url, message", BAD, ids=[b[0] for b in BAD])
def test_a_link_that_cannot_be_used_is_said_in_french_and_nothing_is_written(
        site: Pages, signed_in: Callable[[str], FlaskClient], nl: Newsletter, url: str, message: str) -> None:
    nl.new_issue(NEW_DAY)
    folder = nl.settings.issues_dir / NEW_DAY.isoformat()
    before = _files(folder)
    status, _, page = _draft(signed_in("editor"), site.url(url) if url.startswith("/") else url)
    assert status == 400, page[:300]
    assert typeset("Rien n’a été ajouté : ") in page and typeset(message) in page, page
    assert f'value="{site.url(url) if url.startswith("/") else url}"' in page  # the address is kept in the form
    assert _files(folder) == before


def test_a_private_address_is_refused_unless_allowed(site: Pages, project: Path,
                                                     request: pytest.FixtureRequest) -> None:
    set_options(project, "sourcing", allow_private_networks=False)
    client = request.getfixturevalue("signed_in")("editor")
    nl: Newsletter = request.getfixturevalue("nl")
    nl.new_issue(NEW_DAY)
    before = _files(nl.settings.issues_dir / NEW_DAY.isoformat())
    status, _, page = _draft(client, site.url("/articles/1"))
    assert status == 400
    assert typeset("une adresse de bouclage ou d’un réseau privé, qui n’est pas lue") in page, page
    assert "allow_private_networks" in page
    assert site.requests == [] and _files(nl.settings.issues_dir / NEW_DAY.isoformat()) == before


def test_an_issue_with_no_free_slot_says_so(site: Pages, signed_in: Callable[[str], FlaskClient],
                                            issue_dir: Path) -> None:
    before = _files(issue_dir)
    status, _, page = _draft(signed_in("approver"), site.url("/articles/1"), URL)
    assert status == 400 and typeset("qui a 0 place d’info libre") in page, page
    assert _files(issue_dir) == before


def test_drafting_needs_a_signed_in_account_and_the_csrf_token(site: Pages, app: object,
                                                               signed_in: Callable[[str], FlaskClient]) -> None:
    anonymous = app.test_client()  # type: ignore[attr-defined]
    assert anonymous.post(f"{URL}/draft", data={"url": site.url("/articles/1")}).status_code == 401
    assert signed_in("editor").post(f"{URL}/draft", data={"url": site.url("/articles/1")}).status_code == 400
    assert site.requests == []


def test_the_page_shows_each_links_state_and_the_button_checks_them(
        site: Pages, issue_dir: Path, signed_in: Callable[[str], FlaskClient]) -> None:
    links_to(site, issue_dir)
    path = issue_dir / "05-pwc.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "\nVoir http://nowhere.invalid/x et " + site.url("/slow") + ".\n", encoding="utf-8")
    site.routes["/slow"] = Answer(stall=True)
    client = signed_in("editor")
    page = html.unescape(client.get(URL).get_data(as_text=True))
    assert site.requests == []  # the page reads the store only
    assert page.count('data-link-state="unchecked"') == 5 and typeset("Pas encore vérifié") in page
    response = client.post(f"{URL}/links", data={"csrf_token": csrf_token(client, URL)})
    assert response.status_code == 302 and response.headers["Location"].endswith("#links")
    page = html.unescape(client.get(URL).get_data(as_text=True))
    port = site.base.rsplit(":", 1)[1]
    assert typeset("3 liens morts : corrigez-les ou retirez-les.") in page
    assert typeset("Fonctionne") in page
    assert re.search(r'data-link-state="dead">Info 3 · <a href="[^"]+/gone"', page)
    assert typeset("Mort : la page est introuvable (404)") in page
    assert typeset(f"Mène à un autre site : http://localhost:{port}/ok") in page
    assert typeset("Mort : le site est introuvable (DNS)") in page
    assert typeset("Mort : pas de réponse à temps (délai dépassé)") in page
    requests = len(site.requests)
    client.get(URL)
    client.post(f"{URL}/links", data={"csrf_token": csrf_token(client, URL)})  # kept a day: nothing fetched again
    assert len(site.requests) == requests
