"""The languages under test: every locale shipped, a words() set to one, and the English left untranslated."""

from __future__ import annotations

from pathlib import Path


LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def set_locale(project: Path, locale: str) -> None:
    """Make the project's ``[newsletter] locale`` ``locale``."""
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    assert 'locale = "fr_FR"' in text
    config.write_text(text.replace('locale = "fr_FR"', f'locale = "{locale}"'), encoding="utf-8")


def leftovers(text: str, lang: str) -> list[str]:
    """The words of the *other* languages found in ``text`` (a page in ``lang``)."""
    return [word for other, words in LEFTOVERS.items() if other != lang for word in words if word in text]


#: A few words only one language writes: a page, mail or alert in the other language must not hold them.
LEFTOVERS = {
    "fr": ["Vérifiez", "inscri", "Bonjour", "numéro", "Recevoir", "Aperçu", "Pour corriger", "Détail", "Lien "],
    "en": ["Check your", "Subscribe", "Hello", "the issue", "Receive", "Preview", "To fix it", "Details", "Link "],
}
