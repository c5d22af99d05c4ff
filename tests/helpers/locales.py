"""The languages under test: every locale shipped, a words() set to one, and the English left untranslated."""

from __future__ import annotations

from pathlib import Path
from tests.helpers.config import set_options


LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def set_locale(project: Path, locale: str) -> None:
    """Make the project's ``[newsletter] locale`` ``locale``."""
    set_options(project, "newsletter", locale=locale)


def leftovers(text: str, lang: str) -> list[str]:
    """The words of the *other* languages found in ``text`` (a page in ``lang``)."""
    return [word for other, words in LEFTOVERS.items() if other != lang for word in words if word in text]


#: A few words only one language writes: a page, mail or alert in the other language must not hold them.
LEFTOVERS = {
    "fr": ["Vérifiez", "inscri", "Bonjour", "numéro", "Recevoir", "Aperçu", "Pour corriger", "Détail", "Lien "],
    "en": ["Check your", "Subscribe", "Hello", "the issue", "Receive", "Preview", "To fix it", "Details", "Link "],
}
