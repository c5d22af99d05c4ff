"""What a correction changed, in words: items paired in place by link or title (or both without a link),
moved ones followed across positions, replaced ones removed and added; a page frozen before corrections
compares what it kept."""

from __future__ import annotations

from newsletter.core.i18n import words
from newsletter.render.web_version import Entry, Facts, WebVersion
from newsletter.services.corrections import compare, describe

A = Facts("Titre A", "Texte A", "Source A", "https://a.example.org/", "aaaa.png", "Études")
B = Facts("Titre B", "Texte B", "Source B", "https://b.example.org/", "", "")
C = Facts("Titre C", "Texte C", "Source C", "", "", "")


def page(*items: Facts) -> WebVersion:
    return WebVersion("<html></html>", tuple(Entry(i.title, i.text, i.url) for i in items), items)


def said(changes: list[dict[str, object]]) -> list[str]:
    return [s.replace("\u00a0", " ") for s in describe(changes, words("fr_FR"))]


def test_fields_changed_in_place_are_named() -> None:
    new = Facts("Titre A", "Texte A corrigé", "Source A", "https://a.example.org/", "bbbb.png", "Études")
    assert said(compare(page(A, B), "Objet", page(new, B), "Objet")) == ["Info 1 : le texte et l’image ont changé."]


def test_a_moved_item_and_a_replaced_one() -> None:
    other = Facts("Autre", "Texte", "Source", "https://z.example.org/", "", "")
    assert said(compare(page(A, B, C), "Objet", page(B, A, other), "Nouvel objet")) == [
        "Le sujet a changé.", "« Titre B » passe de l’info 2 à l’info 1.", "« Titre A » passe de l’info 1 à l’info 2.",
        "Info 3 retirée : « Titre C ».", "Info 3 ajoutée : « Autre »."]


def test_an_item_without_link_is_followed_in_its_place() -> None:
    retitled = Facts("Titre C corrigé", "Texte C", "Source C", "", "", "")
    assert said(compare(page(A, C), "Objet", page(A, retitled), "Objet")) == ["Info 2 : le titre a changé."]


def test_a_page_frozen_before_corrections_compares_its_titles_summaries_and_links() -> None:
    old = WebVersion("<html></html>", (Entry("Titre A", "Texte A", "https://a.example.org/"),))
    new = Facts("Titre A", "Texte A", "Autre source", "https://a.example.org/", "cccc.png", "Tag")
    assert compare(old, "Objet", page(new), "Objet") == []  # source, image and tag were not kept
    retitled = Facts("Titre A corrigé", "Texte A", "", "https://a.example.org/", "", "")
    assert said(compare(old, "Objet", page(retitled), "Objet")) == ["Info 1 : le titre a changé."]


def test_only_the_layout_changed() -> None:
    changed = WebVersion("<html>autre</html>", page(A).entries, page(A).facts)
    assert said(compare(page(A), "Objet", changed, "Objet")) == ["Seule la mise en page a changé."]
