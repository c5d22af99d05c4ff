"""The gettext catalogs: complete in every language, compiled from their current .po, in step with the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from newsletter.core.i18n import DOMAIN, LANGUAGES, TRANSLATIONS_DIR, Words, language
from tests.conftest import REPO
from tests.helpers.locales import LOCALES


def _po(lang: str) -> Path:
    return TRANSLATIONS_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _key(message_id: str | tuple[str, ...], context: str | bytes | None) -> tuple[str | None, str]:
    if isinstance(context, bytes):  # babel's read_mo leaves a context undecoded
        context = context.decode("utf-8")
    return context, message_id if isinstance(message_id, str) else message_id[0]


def _text(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_has_a_translation(lang: str) -> None:
    with _po(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    untranslated = [m.id for m in catalog if m.id and (m.fuzzy or not all(_text(m.string)))]
    assert untranslated == [], f"translate these in {_po(lang)}, then run `make messages`"
    for message in catalog:
        if message.id and message.python_format:
            python_format(catalog, message)  # a placeholder missing or misspelled raises TranslationError


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_committed_mo_file_is_compiled_from_the_current_po(lang: str) -> None:
    with _po(lang).open("rb") as handle:
        source = {_key(m.id, m.context): _text(m.string) for m in read_po(handle, locale=lang) if m.id}
    with _po(lang).with_suffix(".mo").open("rb") as handle:
        compiled = {_key(m.id, m.context): _text(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source, "the .mo is out of date: run `make messages` and commit the result"


def test_the_catalogs_hold_exactly_the_messages_of_the_code() -> None:
    with (REPO / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    package = REPO / "newsletter"

    def inside_the_package(path: str) -> bool:
        return Path(path) == REPO or (Path(path).is_relative_to(package) and "__pycache__" not in path)

    in_code = {_key(message_id, context) for _file, _line, message_id, _comments, context in
               extract_from_dir(REPO, method_map, options_map, directory_filter=inside_the_package)}
    for lang in LANGUAGES:
        with _po(lang).open("rb") as handle:
            in_catalog = {_key(m.id, m.context) for m in read_po(handle, locale=lang) if m.id}
        assert in_code - in_catalog == set(), f"new messages: run `make messages` and translate them ({lang})"
        assert in_catalog - in_code == set(), f"messages no longer in the code: run `make messages` ({lang})"


@pytest.mark.parametrize(("locale", "lang"), [("fr_FR", "fr"), ("fr_CA", "fr"), ("en_GB", "en"), ("en_US", "en"),
                                              ("de_DE", "en")])
def test_the_locale_picks_the_catalog(locale: str, lang: str) -> None:
    assert language(locale) == lang


@pytest.mark.parametrize(("lang", "written"), [("fr", "24/11/2026 à 07:30"), ("en", "2026-11-24 07:30")])
def test_dates_are_written_as_the_catalog_says(lang: str, written: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    moment = datetime(2026, 11, 24, 7, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert Words(LOCALES[lang]).moment(moment) == written


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_catalogs_keep_no_obsolete_messages(lang: str) -> None:
    """``make messages`` drops the messages the code no longer has (``#~``), so the .po holds only live ones."""
    with _po(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    assert list(catalog.obsolete) == [], f"run `make messages` ({lang})"
