"""Rendering: placeholders survive MJML and premailer, escaping fits each context, output is stable."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.core.merge import TEMPLATE_FIELDS, TOKEN_RE, Context
from newsletter.render.pipeline import RenderedIssue, render_issue
from tests.conftest import DAY, item_text, write

HOSTILE_VALUES = {
    "first_name": '<script>alert("x")</script>&',
    "last_name": "O'Brien \" onmouseover=alert(1)",
    "email": "zoe@example.org",
    "unsubscribe_url": 'https://news.example.org/u/a"b<c>?x=1&y=2',
}


def render(settings: Settings) -> RenderedIssue:
    return render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)


def test_every_placeholder_survives_the_whole_pipeline(settings: Settings) -> None:
    rendered = render(settings)
    used_html = {rendered.slots.slots[i] for i in map(int, TOKEN_RE.findall(rendered.html))}
    used_text = {rendered.slots.slots[i] for i in map(int, TOKEN_RE.findall(rendered.text))}
    # Every slot allocated while rendering is found intact in one of the two masters.
    assert used_html | used_text == set(rendered.slots.slots)
    assert {s.context for s in used_html} == {Context.HTML, Context.URL}
    assert {s.context for s in used_text} == {Context.TEXT}
    # The unsubscribe URL sits inside an href, the riskiest place for premailer and MJML.
    url_token = rendered.slots.token("unsubscribe_url", Context.URL)
    assert f'href="{url_token}"' in rendered.html
    assert {s.field for s in rendered.slots.slots} <= set(TEMPLATE_FIELDS)


def test_substitution_escapes_per_context(settings: Settings) -> None:
    rendered = render(settings)
    html, text = rendered.personalize(HOSTILE_VALUES)
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert 'href="https://news.example.org/u/a&quot;b&lt;c&gt;?x=1&amp;y=2"' in html
    assert '<script>alert("x")</script>&' in text  # plain text is not HTML: kept as typed
    assert not TOKEN_RE.search(html) and not TOKEN_RE.search(text)


def test_missing_first_name_falls_back_to_the_default(settings: Settings) -> None:
    html, text = render(settings).personalize({"email": "a@example.org", "unsubscribe_url": "https://x.example/u"})
    assert "Bonjour à toutes et à tous," in text
    assert "Bonjour à toutes et à tous," in html


def test_rendering_is_deterministic(settings: Settings) -> None:
    first, second = render(settings), render(settings)
    assert first.html == second.html and first.text == second.text


def test_html_is_accessible_and_responsive(settings: Settings) -> None:
    html = render(settings).html
    assert html.startswith("<!doctype html>")
    assert re.search(r'<html[^>]* lang="fr"', html)
    tables = re.findall(r"<table\b[^>]*>", html)
    assert tables and all('role="presentation"' in t for t in tables)
    images = re.findall(r"<img\b[^>]*>", html)
    assert images and all(re.search(r'alt="[^"]+"', i) for i in images)
    assert "@media" in html  # responsive rules kept beside the inlined styles
    assert "<script" not in html.lower()
    assert re.search(r"display:none[^>]*>\s*Bots, paiement mobile", html)  # hidden preheader first
    assert len(re.findall(r"<h2\b", html)) == 5 and len(re.findall(r"<h1\b", html)) == 1


def test_local_images_have_content_hashed_urls(settings: Settings, issue_dir: Path) -> None:
    digest = hashlib.sha256((issue_dir / "images" / "barres.png").read_bytes()).hexdigest()[:32]
    html = render(settings).html
    assert f'src="https://news.example.org/assets/2026-11-24/{digest}.png"' in html
    assert "/archive/2026-11-24/images/" not in html


def img_and_dividers(html: str) -> list[dict[str, str | None]]:
    found: list[dict[str, str | None]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("img", "p"):
                found.append({"tag": tag, **dict(attrs)})

    Collect().feed(html)
    return found


def test_every_image_keeps_mjmls_pixel_width_for_outlook(settings: Settings) -> None:
    tags = img_and_dividers(render(settings).html)
    images = [t for t in tags if t["tag"] == "img"]
    assert images and all((t.get("width") or "").isdigit() for t in images), images
    assert [t.get("width") for t in images] == ["544"]
    assert not [t for t in tags if t["tag"] == "p" and "width" in t]


@pytest.mark.parametrize(("name", "content"), [
    ("x-apple-disable-message-reformatting", None),
    ("format-detection", "telephone=no, date=no, address=no, email=no, url=no"),
    ("color-scheme", "light dark"),
    ("supported-color-schemes", "light dark"),
])
def test_the_head_carries_the_mail_client_hints(settings: Settings, name: str, content: str | None) -> None:
    head = render(settings).html.split("</head>")[0]
    found = re.search(rf'<meta[^>]*name="{name}"[^>]*>', head)
    assert found, name
    if content is not None:
        assert f'content="{content}"' in found.group(0)
    assert "prefers-color-scheme: dark" in head and "a[x-apple-data-detectors]" in head


def test_item_titles_and_images_link_to_the_items_url(settings: Settings) -> None:
    html = render(settings).html
    assert re.search(r'<h2[^>]*><a href="https://www\.example\.org/etudes/connected-life"[^>]*>'
                     r"Le service client par bot ne convainc pas</a></h2>", html)
    image = re.search(r'<a href="([^"]+)"[^>]*>\s*<img ', html)
    assert image and image.group(1) == "https://www.example.org/etudes/connected-life"
    titles = re.findall(r"<h2[^>]*>(.*?)</h2>", html, re.S)  # items 1 and 4 have a url, the others not
    assert [title.startswith("<a ") for title in titles] == [True, False, False, True, False]


def test_text_part_reads_on_its_own(settings: Settings) -> None:
    text = render(settings).text
    assert "<" not in text.replace("<https", "")  # no HTML leftovers
    assert "Source\u00a0: Kantar TNS, Connected Life" in text
    assert "Lire la suite\u00a0: https://www.example.org/forrester-2018" in text
    long_lines = [line for line in text.splitlines() if len(line) > 78 and "http" not in line]
    assert long_lines == []


@pytest.mark.parametrize("field", ["title", "source", "tag"])
def test_hostile_front_matter_is_escaped(settings: Settings, project: Path, field: str) -> None:
    values = {"title": "T", "source": "S", "tag": "x"}
    values[field] = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    write(project / "issues" / DAY.isoformat() / "02-mobile.md",
          item_text(title=values["title"], source=values["source"], tag=values["tag"]))
    rendered = render(settings)
    assert "<script>alert(1)" not in rendered.html and "onerror=alert(2)>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html


class _Attributes(HTMLParser):
    """Every (tag, attribute name, value) of a document, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend((tag, name, value or "") for name, value in attrs)


INJECTIONS = [
    ("url", 'https://www.example.org/" onerror="alert(1)'),
    ("image", 'https://www.example.org/a.png" onerror="alert(1)'),
    ("image_alt", 'a" onerror="alert(1)'),
    ("title", 'T" onmouseover="alert(1)'),
    ("url", "https://www.example.org/a?b=1&c='x' style='color:red'"),
]


@pytest.mark.parametrize(("field", "value"), INJECTIONS, ids=[f"{f}-{n}" for n, (f, _) in enumerate(INJECTIONS)])
def test_front_matter_values_stay_inside_their_attribute(settings: Settings, project: Path, field: str,
                                                          value: str) -> None:
    fields = {"title": "T", "source": "S", "url": "https://www.example.org/", "image": "https://www.example.org/a.png",
              "image_alt": "a"}
    fields[field] = value
    lines = ["---"] + [f"{k}: {json.dumps(v)}" for k, v in fields.items()] + ["---", "Texte.", ""]
    write(project / "issues" / DAY.isoformat() / "02-mobile.md", "\n".join(lines))
    parser = _Attributes()
    parser.feed(render(settings).html)
    names = {name for _, name, _ in parser.found}
    assert not names & {"onerror", "onmouseover"}
    assert ("style", "color:red") not in {(n, v) for _, n, v in parser.found}
    if field != "title":  # the title is text here (MJML drops mj-button's title attribute)
        # The whole value is one attribute's value, as written.
        assert any(v == value for _, _, v in parser.found), value


def test_code_in_the_text_part_keeps_its_apostrophes(settings: Settings, project: Path) -> None:
    write(project / "issues" / DAY.isoformat() / "02-mobile.md",
          item_text(body="L'outil s'appelle `aujourd'hui ; demain` ici.\n\n    code d'exemple : ok\n"))
    rendered = render(settings)
    assert "L’outil s’appelle aujourd'hui ; demain ici." in rendered.text
    assert "    code d'exemple : ok" in rendered.text
