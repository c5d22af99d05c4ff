"""Editor Markdown becomes sanitized HTML and readable text, with merge fields as placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.content.markdown import MarkdownConverter, count_words
from newsletter.core.merge import Context, MergeSlots

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<iframe src=https://evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<svg onload=alert(1)>",
    "[x](vbscript:msgbox(1))",
    "<style>body{display:none}</style>",
]


def convert(source: str, slots: MergeSlots | None = None):  # type: ignore[no-untyped-def]
    return MarkdownConverter("fr_FR").convert(source, path=Path("x.md"), first_line=1, slots=slots or MergeSlots())


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markup_never_reaches_the_html(source: str) -> None:
    html = convert(source).html.lower()
    for bad in ("<script", "onerror", "onload", "javascript:", "vbscript:", "data:", "<iframe", "<svg", "<style",
                "style="):
        assert bad not in html


def test_list_and_emphasis_survive() -> None:
    fragment = convert("Intro **forte**.\n\n1. un\n2. deux\n")
    assert "<strong>forte</strong>" in fragment.html
    assert "<ol>" in fragment.html and "<li>deux</li>" in fragment.html
    assert fragment.text == "Intro forte.\n\n1. un\n2. deux"


def test_text_writes_links_out_and_wraps_at_78() -> None:
    long = " ".join(["information"] * 30)
    fragment = convert(f"{long} [l'étude](https://www.example.org/etude).")
    assert "l’étude (https://www.example.org/etude)" in fragment.text
    assert all(len(line) <= 78 for line in fragment.text.splitlines() if "https://" not in line)


def test_list_items_wrap_under_their_marker() -> None:
    fragment = convert("1. " + " ".join(["mot"] * 40))
    first, second = fragment.text.splitlines()[:2]
    assert first.startswith("1. mot") and second.startswith("   mot")


def test_merge_fields_become_placeholders_per_context() -> None:
    slots = MergeSlots()
    fragment = convert('Bonjour {{ first_name | default("vous") }} !', slots)
    html_token = slots.token("first_name", Context.HTML, "vous")
    text_token = slots.token("first_name", Context.TEXT, "vous")
    assert html_token in fragment.html and text_token in fragment.text
    assert len(slots.slots) == 2


def test_typography_skips_code_and_urls() -> None:
    fragment = convert("Code `a : b` et [lien](https://example.org/?a=1:2) : fin")
    assert "<code>a : b</code>" in fragment.html
    assert 'href="https://example.org/?a=1:2"' in fragment.html
    assert "\u00a0: fin" in fragment.html or "&nbsp;: fin" in fragment.html


def test_straight_quotes_pair_across_emphasis_but_not_in_code_or_links() -> None:
    fragment = convert('Le "Big **Data**" : 3 V, `a "b" c` et [lien](https://example.org/?q="x") -- fin...')
    assert "Le «&nbsp;Big <strong>Data</strong>&nbsp;»&nbsp;: 3&nbsp;V" in fragment.html
    assert "<code>a &quot;b&quot; c</code>" in fragment.html or '<code>a "b" c</code>' in fragment.html
    assert "href=\"https://example.org/?q=%22x%22\"" in fragment.html
    assert "– fin…" in fragment.html
    assert "Le « Big Data » : 3 V" in fragment.text.replace("\u00a0", " ")


def test_a_quote_that_closes_a_link_or_emphasis_is_not_written_twice() -> None:
    fragment = convert('Voir [lien "x"](https://example.org/a) fin et **"gras"** : suite.')
    assert fragment.html.count("»") == 2 and fragment.text.count("»") == 2
    assert "»</a> fin" in fragment.html and "»</strong>&nbsp;: suite" in fragment.html


def test_word_count_ignores_urls() -> None:
    assert count_words("Deux mots (https://www.example.org/un/deux/trois)") == 2
    assert count_words("aujourd’hui c'est 46 % ") == 3


def test_apostrophes_become_typographic_in_text_only() -> None:
    fragment = convert("L'étude d'avril : `l'option` et [l'article](https://example.org/l'a) ou <redaction@example.org>.")
    assert "L’étude d’avril" in fragment.html and "l’article</a>" in fragment.html
    assert "<code>l'option</code>" in fragment.html or "<code>l&#x27;option</code>" in fragment.html
    assert "href=\"https://example.org/l'a\"" in fragment.html or 'href="https://example.org/l%27a"' in fragment.html
    assert "’" not in fragment.html.split("<code>")[1].split("</code>")[0]


MAILTO_OK = [
    ("[écrire](mailto:redaction@example.org)", 'href="mailto:redaction@example.org"', "écrire (redaction@example.org)"),
    ("<redaction@example.org>", 'href="mailto:redaction@example.org"', "redaction@example.org"),
    ("<mailto:redaction@example.org>", 'href="mailto:redaction@example.org"', "redaction@example.org"),
    ("[nous](mailto:a@example.org?subject=Bonjour%20vous)", 'href="mailto:a@example.org?subject=Bonjour%20vous"',
     "nous (a@example.org)"),
]


@pytest.mark.parametrize(("source", "href", "text"), MAILTO_OK, ids=[c[0] for c in MAILTO_OK])
def test_mailto_links_are_allowed(source: str, href: str, text: str) -> None:
    fragment = convert(f"Écrivez : {source}")
    assert fragment.problems == []
    assert href in fragment.html
    assert text in fragment.text


MAILTO_REFUSED = ["mailto:", "mailto:pas-une-adresse", "mailto:a@", "mailto:a@b@example.org",
                  "mailto:a%0A@example.org", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd"]


@pytest.mark.parametrize("href", MAILTO_REFUSED)
def test_other_link_schemes_and_bad_mailto_are_refused(href: str) -> None:
    fragment = convert(f"Écrivez [ici]({href}).")
    assert [p.message for p in fragment.problems if "is not allowed" in p.message], fragment.problems
    assert "href" not in fragment.html


@pytest.mark.parametrize("source", [
    "Avant <script>alert(1)</script> après.",
    "Avant <SCRIPT type='text/javascript'>var x = 1;</SCRIPT> après.",
    "Avant <style>p { color: red }</style> après.",
], ids=["script", "script in capitals", "style"])
def test_the_inside_of_a_pasted_script_or_style_is_dropped_with_it(source: str) -> None:
    fragment = convert(source)
    for part in (fragment.html, fragment.text):
        assert "Avant" in part and "après" in part
        assert not any(word in part for word in ("alert", "var x", "color")), part
    assert "raw HTML" in fragment.problems[0].message
