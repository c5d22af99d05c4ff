"""``newsletter draft ISSUE --from URL… | --feed URL`` against pages served on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest

from newsletter.config import load_settings
from newsletter.services.check import check_issue
from tests.conftest import FIXTURES
from tests.helpers.config import set_options
from tests.helpers.pages import Answer, Pages, local_site
from newsletter.frontends.cli import main

NEW_DAY = date(2026, 11, 25)
PNG = (FIXTURES / "issue" / "images" / "barres.png").read_bytes()


def _article(n: int, **extra: str) -> bytes:
    image = extra.get("image", f"/img/{n}.png")
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Titre de repli {n} | Le Site</title>
<meta property="og:title" content="Les ventes en ligne progressent encore, étude {n}">
<meta property="og:site_name" content="{extra.get('site', 'Le Journal du commerce')}">
<meta property="og:description" content="Selon une étude publiée ce mardi, les ventes en ligne ont augmenté de {n} % en un an.">
<meta property="og:image" content="{image}">
<meta property="og:image:alt" content="Courbe des ventes {n}">
<link rel="canonical" href="/articles/{n}">
</head><body><p>Texte.</p></body></html>""".encode()


@pytest.fixture
def pages(project: Path) -> Iterator[Pages]:
    with local_site(project) as site:
        for n in range(1, 7):
            site.routes[f"/a/{n}?utm_source=x"] = Answer(_article(n))
            site.routes[f"/articles/{n}"] = Answer(_article(n))
            site.routes[f"/img/{n}.png"] = Answer(PNG, headers={"Content-Type": "image/png"})
        yield site


def run(project: Path, *args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["--project", str(project), *args])
    return code, printed.getvalue()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_link_drafts_the_next_free_item_with_the_pages_metadata(project: Path, pages: Pages) -> None:
    code, out = run(project, "new", NEW_DAY.isoformat())
    assert code == 0, out
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/a/1?utm_source=x"))
    assert code == 0, out
    folder = project / "issues" / NEW_DAY.isoformat()
    drafted = folder / "01-les-ventes-en-ligne-progressent-encore-e.md"  # the stub 01 it replaced is gone
    assert f"Drafted issues/{NEW_DAY.isoformat()}/{drafted.name}" in out
    assert [p.name for p in folder.glob("01-*.md")] == [drafted.name] and len(list(folder.glob("0*.md"))) == 5
    text = drafted.read_text(encoding="utf-8")
    assert 'title: "Les ventes en ligne progressent encore, étude 1"' in text
    assert 'source: "Le Journal du commerce"' in text
    assert f'url: "{pages.url("/articles/1")}"' in text  # the canonical address, not the tracked one
    assert 'image: "images/1.png"' in text and 'image_alt: "Courbe des ventes 1"' in text
    assert (folder / "images" / "1.png").read_bytes() == PNG
    report = check_issue(load_settings(project), NEW_DAY)
    own = [p.format(project) for p in report.problems if "own description" in p.message]
    assert own == [f"issues/{NEW_DAY.isoformat()}/{drafted.name}:9: the text is still the page's own description, "
                   "copied by `newsletter draft`; rewrite it in your own words (then the 'description' line can go)"]
    front, _, _ = text.rpartition("---\n")
    drafted.write_text(front + "---\nLes achats sur Internet gagnent un point sur l'année.\n", encoding="utf-8")
    assert not [p for p in check_issue(load_settings(project), NEW_DAY).problems if "own description" in p.message]


def test_fallbacks_title_and_site_name(project: Path, pages: Pages) -> None:
    pages.routes["/plain"] = Answer("<html><head><title> Un titre  simple </title></head><body>x</body></html>"
                                    .encode())
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/plain"))
    assert code == 0, out
    text = next((project / "issues" / NEW_DAY.isoformat()).glob("01-*.md")).read_text(encoding="utf-8")
    assert 'title: "Un titre simple"' in text and 'source: "127.0.0.1"' in text
    assert f'url: "{pages.url("/plain")}"' in text and "image" not in text


def test_json_ld_publisher_is_the_source_without_og_site_name(project: Path, pages: Pages) -> None:
    pages.routes["/ld"] = Answer(b"""<html><head><title>Un article</title><script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [{"@type": "NewsArticle", "publisher": {"@type": "Organization",
"name": "Les Echos"}}]}</script></head></html>""")
    assert run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/ld"))[0] == 0
    text = next((project / "issues" / NEW_DAY.isoformat()).glob("01-*.md")).read_text(encoding="utf-8")
    assert 'source: "Les Echos"' in text


BAD = [
    ("/missing", Answer(b"gone", 404, {"Content-Type": "text/plain"}), "the server answered 404"),
    ("/big", Answer(b"x" * 10_000_000), "over the 1953 KB read"),
    ("/pdf", Answer(b"%PDF-1.4", headers={"Content-Type": "application/pdf"}), "this is not a web page (its type is "
                                                                                "application/pdf)"),
    ("/loop", Answer(b"", 302, {"Location": "/loop"}), "more than 5 redirects (a loop?)"),
    ("/slow", Answer(stall=True), "no answer within 1 s (timeout)"),
    ("/private", Answer(b"", 302, {"Location": "http://10.0.0.7/secret"}), ""),
]


@pytest.mark.parametrize("path, answer, message", BAD, ids=[b[0] for b in BAD])
def test_bad_pages_are_a_clear_message_and_nothing_is_written(project: Path, pages: Pages, path: str,
                                                              answer: Answer, message: str) -> None:
    run(project, "new", NEW_DAY.isoformat())
    folder = project / "issues" / NEW_DAY.isoformat()
    before = _snapshot(folder)
    pages.routes[path] = answer
    if path == "/private":  # allowed for 127.0.0.1 by the fixture: refuse private networks again
        set_options(project, "sourcing", allow_private_networks=False)
        path = "/a/1?utm_source=x"
        message = "leads to 127.0.0.1, a loopback or private network address, which is not fetched"
    # a good link first: it must not be written either when a later one fails
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/articles/2"), "--from",
                    pages.url(path))
    assert code != 0 and message in out, out
    assert "Traceback" not in out
    assert _snapshot(folder) == before


def test_a_redirect_to_a_private_address_is_refused(project: Path, pages: Pages) -> None:
    pages.routes["/go"] = Answer(b"", 302, {"Location": "http://10.0.0.7/secret"})
    set_options(project, "sourcing", allow_private_networks=False)
    # the first hop itself is on loopback: refused before any request is made
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/go"))
    assert code == 2 and "loopback or private network" in out and "allow_private_networks" in out
    assert pages.requests == []


@pytest.mark.parametrize("url, message", [
    ("https://example.org/un article", "contains a space or a line break"),
    ("ftp://example.org/file", "is not a complete http:// or https:// address"),
    ("http://exa mple.org/", "contains a space"),
    ("http://a\u200db.example/", "not a valid international domain name"),
    ("https://ex..ample.org/", "is not a valid domain name (a part between two dots is empty or over 63"),
    ("https://" + "a" * 64 + ".example/", "is not a valid domain name (a part between two dots is empty or over 63"),
])
def test_malformed_addresses_are_refused(project: Path, url: str, message: str) -> None:
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", url)
    assert code == 2 and message in out, out
    assert not (project / "issues" / NEW_DAY.isoformat()).exists()


def test_an_idn_host_is_resolved_in_its_ascii_form(project: Path) -> None:
    from newsletter.services.fetch import _target

    assert _target("https://café.example/a b".replace(" ", "")).host == "xn--caf-dma.example"


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Le fil</title><link>{base}/</link><description>x</description>
<item><title>Ancien</title><link>{base}/articles/1</link><pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Récent</title><link>{base}/articles/3</link><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>Moyen</title><link>{base}/articles/2</link><pubDate>Tue, 24 Nov 2026 07:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_a_feed_drafts_its_newest_entries_not_used_up_to_the_free_slots(project: Path, pages: Pages) -> None:
    pages.routes["/feed.xml"] = Answer(FEED.format(base=pages.base).encode(),
                                       headers={"Content-Type": "application/rss+xml"})
    run(project, "new", NEW_DAY.isoformat())
    folder = project / "issues" / NEW_DAY.isoformat()
    # one slot is taken by an item that already links to the newest entry
    stub = next(folder.glob("01-*.md"))
    stub.write_text(f'---\ntitle: "Déjà là"\nsource: "x"\nurl: "{pages.url("/articles/3")}"\n---\nTexte.\n',
                    encoding="utf-8")
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--feed", pages.url("/feed.xml"))
    assert code == 0, out
    drafted = [line for line in out.splitlines() if line.startswith("Drafted")]
    assert len(drafted) == 2, out  # the newest (3) is in the issue already: then 2, then 1
    texts = [(project / line.removeprefix("Drafted ")).read_text(encoding="utf-8") for line in drafted]
    assert ["étude 2" in texts[0], "étude 1" in texts[1]] == [True, True]


def test_a_malformed_feed_is_a_clear_message(project: Path, pages: Pages) -> None:
    pages.routes["/feed.xml"] = Answer(b"<html><body>not a feed</body></html>", headers={"Content-Type": "text/html"})
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--feed", pages.url("/feed.xml"))
    assert code == 1 and "this is not an RSS or Atom feed" in out and "Traceback" not in out, out


def test_quotes_in_the_pages_image_alt_become_ones_check_accepts(project: Path, pages: Pages) -> None:
    pages.routes["/quoted"] = Answer(_article(1).replace(b'content="Courbe des ventes 1"',
                                                         b'content="La courbe &quot;ventes&quot; de 2026"'))
    assert run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/quoted"))[0] == 0
    report = check_issue(load_settings(project), NEW_DAY)
    assert not [p for p in report.problems if p.field == "image_alt"], report.problems
    text = next((project / "issues" / NEW_DAY.isoformat()).glob("01-*.md")).read_text(encoding="utf-8")
    assert 'image_alt: "La courbe « ventes » de 2026"' in text.replace("\u00a0", " "), text


def test_an_image_that_cannot_be_taken_is_a_note_in_the_terminals_language(
        project: Path, pages: Pages, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    pages.routes["/svg"] = Answer(_article(1, image="/x.svg"))
    pages.routes["/x.svg"] = Answer(b"<svg xmlns='http://www.w3.org/2000/svg'/>", headers={"Content-Type": "image/svg+xml"})
    pages.routes["/huge"] = Answer(_article(2, image="/huge.png"))
    pages.routes["/huge.png"] = Answer(PNG + b"\0" * 6_000_000, headers={"Content-Type": "image/png"})
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/svg"), "--from", pages.url("/huge"))
    assert code == 0, out
    out = out.replace("\u00a0", " ").replace("\u202f", " ")
    assert f"{pages.url('/articles/1')} : son image {pages.url('/x.svg')} n’est pas une image PNG, JPEG ni GIF ; " \
           "ajoutez-en une à la main" in out, out
    assert f"{pages.url('/articles/2')} : son image {pages.url('/huge.png')} dépasse les " in out, out
    assert "l’article" not in out, out


def test_a_broken_feed_is_a_clear_message_not_a_draft_of_its_own_address(project: Path, pages: Pages) -> None:
    pages.routes["/broken.xml"] = Answer(b"<rss version='2.0'><channel><item><title>Un</ti",
                                         headers={"Content-Type": "application/rss+xml"})
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--feed", pages.url("/broken.xml"))
    assert code == 1 and "this is not an RSS or Atom feed" in out and "not a web page" not in out, out
    assert [request for request in pages.requests if request[1] == "/broken.xml"] == [("GET", "/broken.xml")]


@pytest.mark.parametrize("path, answer, said", [
    ("/gone.xml", Answer(b"gone", 404, {"Content-Type": "text/plain"}), "le serveur a répondu 404 ; vérifiez "
                                                                         "l’adresse du flux"),
    ("/page.xml", Answer(b"<html><body>x</body></html>"), "ce n’est pas un flux RSS ni Atom"),
])
def test_a_feed_that_cannot_be_read_is_said_in_the_terminals_language(
        project: Path, pages: Pages, monkeypatch: pytest.MonkeyPatch, path: str, answer: Answer, said: str) -> None:
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    pages.routes[path] = answer
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--feed", pages.url(path))
    assert code == 1 and said in out.replace("\u00a0", " ").replace("\u202f", " "), out


def test_the_stubs_use_the_typographic_apostrophe_and_an_earlier_stub_is_still_a_free_slot(
        project: Path, pages: Pages) -> None:
    """`new` wrote « le titre de l'info » with a straight apostrophe in its stubs; they now read ’, and a stub
    an earlier version wrote is still a slot `draft` may take."""
    code, out = run(project, "new", NEW_DAY.isoformat())
    assert code == 0, out
    folder = project / "issues" / NEW_DAY.isoformat()
    stubs = sorted(folder.glob("0*.md"))
    assert all("'" not in line.partition("#")[2] for p in [*stubs, folder / "issue.yaml"]
               for line in p.read_text(encoding="utf-8").splitlines()), stubs[0].read_text(encoding="utf-8")
    stubs[0].write_text(stubs[0].read_text(encoding="utf-8").replace("l’info", "l'info"), encoding="utf-8")
    code, out = run(project, "draft", NEW_DAY.isoformat(), "--from", pages.url("/a/1?utm_source=x"))
    assert code == 0, out
    assert [p.name for p in folder.glob("01-*.md")] == ["01-les-ventes-en-ligne-progressent-encore-e.md"]
