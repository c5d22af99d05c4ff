"""The words people read, in the newsletter's language: gettext catalogs and Jinja2 templates that use them.

Every page, mail and alert a person reads is written in English in the code and templates
(the msgids) and translated in ``newsletter/translations/<lang>/LC_MESSAGES/messages.po``;
``make messages`` extracts, updates and compiles them. The compiled ``.mo`` files are committed
(a test fails when one is older than its ``.po``), so a fresh clone needs no compile step.

The language follows ``[newsletter] locale``: ``fr_FR`` (or any ``fr_*``) is French, ``en_*``
English; a locale without a catalog falls back to English. The command line speaks the language of the
person at the terminal instead (:func:`user_locale`: ``LC_ALL``, ``LC_MESSAGES``, ``LANG``). Python code writes
``words.gettext("Hello %(name)s", name=...)``; templates write ``{{ _("Hello %(name)s", name=...) }}``
(Jinja2's i18n extension, new style: arguments are escaped, the catalog's text is trusted).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from babel import Locale

from newsletter.errors import N_ as N_  # the marker lives with the errors, its first users
from newsletter.errors import NewsletterError

if TYPE_CHECKING:  # only the templates' and catalogs' users load them (a send with nothing to do never does)
    import jinja2
    from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
DOMAIN = "messages"
LANGUAGES = ("fr", "en")
FALLBACK = "en"


Gettext = Callable[[str], str]


class Translatable(Protocol):
    """A value that says itself in a language (a :class:`Message`, a ``NewsletterError``)."""

    def text(self, gettext: Gettext) -> str: ...


def fill(template: str, values: Mapping[str, Any], gettext: Gettext | None = None) -> str:
    """``template`` (translated by ``gettext`` when given) filled from ``values``; a value that is
    :class:`Translatable` is said in the same language, any other as it is."""
    said = gettext(template) if gettext is not None else template
    if not values:
        return said
    return said % {key: value.text(gettext) if gettext is not None and hasattr(value, "text") else value
                   for key, value in values.items()}


@dataclass(frozen=True)
class Message:
    """A piece of sentence kept translatable: an English template and its values (e.g. "the button text")."""

    template: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return fill(self.template, self.values)

    def text(self, gettext: Gettext) -> str:
        return fill(self.template, self.values, gettext)


def template_pattern(template: str) -> re.Pattern[str]:
    """A pattern that takes a template's values back from the English sentence made of it (use ``fullmatch``):
    each ``%(name)s`` or ``%(name)d`` a named group. A recorded English sentence (a ledger's reason, a kept
    link check) can then be said again in another language."""
    pieces = re.split(r"%\((\w+)\)[sd]", template)  # text, name, text, name, …, text
    return re.compile("".join(f"(?P<{piece}>.*?)" if n % 2 else re.escape(piece.replace("%%", "%"))
                              for n, piece in enumerate(pieces)), re.DOTALL)


@dataclass(frozen=True)
class Word:
    """A word said with its context (``pgettext``) inside a sentence: a state's name, e.g. « absent »."""

    context: str
    word: str

    def __str__(self) -> str:
        return self.word

    def text(self, gettext: Gettext) -> str:
        catalog = getattr(gettext, "__self__", None)  # a catalog's bound gettext has its pgettext beside it
        if catalog is None or not hasattr(catalog, "pgettext"):
            return self.word
        return str(catalog.pgettext(self.context, self.word))


@dataclass(frozen=True)
class Count:
    """A number with its noun, said with the plural form of the reader's language ("1 error", "2 errors");
    ``make messages`` extracts ``Count("%(num)d error", "%(num)d errors", n)`` as a plural message."""

    singular: str
    plural: str
    num: int

    def __str__(self) -> str:
        return fill(self.singular if self.num == 1 else self.plural, {"num": self.num})

    def text(self, gettext: Gettext) -> str:
        catalog = getattr(gettext, "__self__", None)  # a catalog's bound gettext knows its plural forms
        if catalog is None or not hasattr(catalog, "ngettext"):
            return str(self)
        return str(catalog.ngettext(self.singular, self.plural, self.num)) % {"num": self.num}


#: How a value is quoted back: the English is ``repr()``'s (as the command line has always printed it), a
#: catalog says it its own way (« value » in French).
QUOTES = N_("'%(value)s'")


@dataclass(frozen=True)
class Quoted:
    """A value quoted back to the person who typed it (a word, a link, a file name): ``'one-to-one'`` in English,
    as ``repr()`` writes it, « one-to-one » in French; control characters are escaped (``\\n``, ``\\x1b``) in
    every language, never written raw."""

    value: str

    def __str__(self) -> str:
        return repr(self.value)

    def text(self, gettext: Gettext) -> str:
        said = gettext(QUOTES)
        if said == QUOTES:
            return str(self)
        return said % {"value": "".join(c if c.isprintable() else repr(c)[1:-1] for c in self.value)}


def language(locale: str) -> str:
    """The catalog language for a locale: ``fr_FR`` → ``fr``, ``en_GB`` → ``en``, anything else → English."""
    lang = locale.replace("-", "_").split("_")[0].lower()
    return lang if lang in LANGUAGES else FALLBACK


#: The variables that choose the language of messages, strongest first (POSIX: LC_ALL overrides the others).
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def user_locale(environ: Mapping[str, str]) -> str:
    """The locale of the person at a terminal, from the first of :data:`LOCALE_VARIABLES` set in ``environ``:
    ``fr_FR.UTF-8`` (or any French one) → ``fr_FR``, anything else (``C``, ``en_US``, ``de_DE``, unset) → ``en_US``."""
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            return "fr_FR" if language(value.split(".")[0].split("@")[0]) == "fr" else "en_US"
    return "en_US"


def lend_to_gettext() -> None:
    """Point the standard library's :mod:`gettext` at these catalogs, for the process: click writes its usage
    errors and ``--help`` headings through it, in the default domain, whose name (``messages``) is our catalogs'
    (their msgids are in ``frontends/click_words.py``). The standard library picks the language from
    ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``; ``C`` or a language without a catalog stays English."""
    import gettext

    gettext.bindtextdomain(DOMAIN, str(TRANSLATIONS_DIR))


def catalog_file(lang: str) -> Path:
    """Where the compiled catalog of ``lang`` lives."""
    return TRANSLATIONS_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


@lru_cache(maxsize=None)
def translations(lang: str) -> Translations:
    """The compiled catalog of ``lang`` (one of :data:`LANGUAGES`), loaded once."""
    from babel.support import Translations

    path = catalog_file(lang)
    if not path.is_file():
        raise NewsletterError(f"the {lang!r} message catalog is missing: {path}",
                              hint="run `make messages` to compile newsletter/translations")
    with path.open("rb") as handle:
        return Translations(handle, domain=DOMAIN)


class Words:
    """One language's catalog, with ``%(name)s`` formatting and dates written as the catalog says."""

    def __init__(self, locale: str) -> None:
        self.lang = language(locale)
        self.locale = Locale.parse(locale.replace("-", "_"))  # only for the patterns below; [newsletter] checks it
        self.translations = translations(self.lang)

    def gettext(self, message: str, **values: Any) -> str:
        """``message`` in this language, its ``%(name)s`` placeholders filled from ``values``."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, num: int, **values: Any) -> str:
        """The singular or plural form for ``num`` (also available as ``%(num)d``)."""
        return self.translations.ngettext(singular, plural, num) % {"num": num, **values}

    def pgettext(self, context: str, message: str, **values: Any) -> str:
        """``message`` in ``context`` (the same English words translated differently by use)."""
        text = str(self.translations.pgettext(context, message))
        return text % values if values else text

    def day(self, value: date) -> str:
        """A calendar day as this language writes it in short (the pattern is in the catalog)."""
        from babel.dates import format_date

        # Translators: a CLDR date pattern (https://cldr.unicode.org), e.g. dd/MM/yyyy.
        return format_date(value, self.gettext("yyyy-MM-dd"), locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A date and time as this language writes them (the pattern is in the catalog)."""
        from babel.dates import format_datetime

        # Translators: a CLDR date-and-time pattern; quote words: dd/MM/yyyy 'à' HH:mm.
        return format_datetime(value, self.gettext("yyyy-MM-dd HH:mm"), tzinfo=value.tzinfo, locale=self.locale)


@lru_cache(maxsize=None)
def words(locale: str) -> Words:
    """The :class:`Words` of a locale (cached: catalogs never change while a process runs)."""
    return Words(locale)


def install(env: jinja2.Environment, spoken: Words) -> None:
    """Give a Jinja2 environment ``_``/``gettext``/``ngettext``/``pgettext`` from one language's catalog,
    ``lang`` (for ``<html lang>``) and ``day()`` (a date as that language writes it)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(spoken.translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(lang=spoken.lang, day=spoken.day)


def environment(folder: Path, spoken: Words) -> jinja2.Environment:
    """A Jinja2 environment for templates outside Flask (mails, the preview), autoescaping ``.html``."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                             autoescape=jinja2.select_autoescape(["html"]),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    install(env, spoken)
    return env


def fill_english(directory: Path = TRANSLATIONS_DIR) -> int:
    """Give every untranslated message of the English catalog its msgid (``make messages``); how many."""
    from babel.messages.pofile import read_po, write_po

    path = directory / "en" / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple) and not all(message.string or ()):
            message.string, filled = tuple(message.id), filled + 1
        elif isinstance(message.id, str) and not message.string:
            message.string, filled = message.id, filled + 1
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0)
    return filled
