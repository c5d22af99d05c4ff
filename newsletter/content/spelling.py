"""Spelling: words of the titles and texts that the newsletter's dictionary does not know.

The engine is libenchant through pyenchant, with its Hunspell provider and Debian's dictionaries
(``hunspell-fr``, ``hunspell-en-us``): loading fr_FR takes about half a second, checking a word a
few microseconds, but a suggestion can take most of a second, so only the first
:data:`SUGGESTED` unknown words get suggestions. What is not prose is skipped: addresses, code,
merge fields, numbers and ordinals (1er, XXe), words with a capital not at a sentence start
(proper names) or all in capitals (acronyms), and the words of the project's dictionary file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from newsletter.content.model import Issue
from newsletter.content.problems import N_, Problem
from newsletter.core.i18n import Quoted
from newsletter.errors import SpellingUnavailable

#: Unknown words that get suggestions, per check (each can cost most of a second).
SUGGESTED = 5
#: Suggestions shown per word.
SHOWN = 3

_SKIPPED = re.compile(
    r"`[^`\n]*`"                       # inline code
    r"|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}"  # merge fields and Jinja
    r"|\]\([^)\s]*\)"                   # Markdown link targets
    r"|<[^>\n]*>"                       # autolinks and tags
    r"|\b(?:https?|ftp|mailto):\S+|\bwww\.\S+"  # addresses
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",   # email addresses
    re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
#: A word: letters, with inner hyphens and apostrophes (’ or ').
_WORD = re.compile(r"[^\W\d_]+(?:[-’'][^\W\d_]+)*")
#: French elisions written before a word: l’, d’, qu’, jusqu’…
_ELISION = re.compile(r"^(?:[lLdDjJmMnNsStTcC]|[qQ]u|[jJ]usqu|[lL]orsqu|[pP]uisqu|[qQ]uoiqu)[’']")
_ROMAN = re.compile(r"^[IVXLCDM]+(?:e|er|re|ème|es)?$")
_SENTENCE_END = re.compile(r"[.!?…:]\s*$|^\s*$|[«\"(]\s*$|^\s*(?:\d+\.|[-*+])\s*$")


@dataclass(frozen=True)
class Word:
    word: str
    line: int  # 0-based within the text


def words(text: str) -> Iterable[Word]:
    """The words of ``text`` worth checking, with where they are (prose only; see the module)."""
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = _SKIPPED.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for match in _WORD.finditer(text):
        word = match.group(0)
        start = match.start()
        if start and (text[start - 1].isdigit() or text[start - 1] in "_/\\#@$"):
            continue  # 1er, 3e, 10km, paths, hashtags
        end = match.end()
        if end < len(text) and (text[end].isdigit() or text[end] in "_/\\@"):
            continue
        bare = _ELISION.sub("", word)
        if not bare:
            continue
        if any(c.isupper() for c in bare[1:]) or _ROMAN.match(bare):
            continue  # acronyms, CamelCase names, XXe
        if bare[0].isupper() and not _SENTENCE_END.search(text[text.rfind("\n", 0, start) + 1:start]):
            continue  # a capital inside a sentence: a proper name
        line = text.count("\n", 0, start)
        yield Word(bare, line)


def project_words(path: Path) -> frozenset[str]:
    """The words of the project's dictionary file (one a line, ``#`` starts a comment; none when absent)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(w for line in lines if (w := line.split("#", 1)[0].strip()))


@lru_cache(maxsize=4)
def dictionary(locale: str) -> Any:
    """The enchant dictionary of ``locale`` (kept for the process: loading it is the slow part).

    :raises SpellingUnavailable: when pyenchant, libenchant or the dictionary is missing.
    """
    try:
        import enchant
    except ImportError as err:  # the module is missing, or libenchant-2 is not installed
        raise SpellingUnavailable(N_("the spelling library cannot be loaded (%(error)s); install Debian's "
                                     "libenchant-2-2 (make system-packages)"), values={"error": str(err)}) from err
    try:
        return enchant.Dict(locale)
    except enchant.errors.DictNotFoundError as err:
        raise SpellingUnavailable(N_("no %(locale)s dictionary is installed; install Debian's %(package)s "
                                     "(make system-packages)"),
                                  values={"locale": locale, "package": debian_package(locale)}) from err


#: Languages whose Debian Hunspell dictionaries come one package per country (``hunspell-en-gb``); the others
#: have one package for the language (``hunspell-fr``).
_BY_COUNTRY = {"en": "us", "de": "de", "pt": "pt"}


def debian_package(locale: str) -> str:
    """The Debian package holding the Hunspell dictionary of ``locale`` (``fr_FR`` → ``hunspell-fr``,
    ``en_GB`` → ``hunspell-en-gb``, a bare ``en`` → ``hunspell-en-us``)."""
    language, _, country = locale.replace("-", "_").partition("_")
    language = language.lower()
    if language not in _BY_COUNTRY:
        return f"hunspell-{language}"
    return f"hunspell-{language}-{(country or _BY_COUNTRY[language]).lower()}"


def _accepted(checker: Any, word: str, known: frozenset[str]) -> bool:
    if word in known or word.lower() in known:
        return True
    variants = {word, word.replace("'", "’"), word.replace("’", "'")}
    if any(checker.check(v) for v in variants):
        return True
    if "-" in word:
        return all(_accepted(checker, part, known) for part in word.split("-") if part)
    return False


@dataclass(frozen=True)
class Misspelling:
    """The unknown word of a spelling warning, as written, and the suggestions it was given (the desk underlines
    the word in its field and offers them)."""

    word: str
    suggestions: tuple[str, ...]


#: The value of a spelling warning holding its :class:`Misspelling` (``word`` is quoted, for the sentence).
_FOUND = "misspelling"
_UNKNOWN = N_("spelling: %(word)s is not in the %(locale)s dictionary (perhaps %(suggestions)s); fix it, or add it "
              "to %(file)s")
_UNKNOWN_BARE = N_("spelling: %(word)s is not in the %(locale)s dictionary; fix it, or add it to %(file)s")


def spelling_problems(issue: Issue, locale: str, dictionary_file: Path, *,
                      checker: Any = None) -> list[Problem]:
    """A warning for each unknown word of the subject, preheader, intro, titles and texts.

    :raises SpellingUnavailable: when the dictionary of ``locale`` cannot be loaded.
    """
    checker = checker if checker is not None else dictionary(locale)
    known = project_words(dictionary_file)
    sources: list[tuple[Path, int, str]] = [
        (issue.meta_path, issue.lines.get("subject", 1), issue.subject),
        (issue.meta_path, issue.lines.get("preheader", 1), issue.preheader),
        (issue.meta_path, issue.intro_line, issue.intro)]
    for item in issue.items:
        sources += [(item.path, item.line_of("title"), item.title), (item.path, item.body_line, item.body)]
    problems: list[Problem] = []
    suggested: dict[str, tuple[str, ...]] = {}
    for path, first_line, text in sources:
        for found in words(text):
            if _accepted(checker, found.word, known):
                continue
            if found.word not in suggested:
                if len(suggested) < SUGGESTED:
                    suggested[found.word] = tuple([s for s in checker.suggest(found.word) if s != found.word][:SHOWN])
                else:
                    suggested[found.word] = ()
            shown = suggested[found.word]
            problems.append(Problem(path, first_line + found.line, _UNKNOWN if shown else _UNKNOWN_BARE, "warning",
                                    values={"word": Quoted(found.word), "locale": locale, "suggestions": ", ".join(shown),
                                            "file": dictionary_file.name, _FOUND: Misspelling(found.word, shown)}))
    return problems


def misspelling(problem: Problem) -> Misspelling | None:
    """The unknown word and its suggestions when ``problem`` is a spelling warning, else ``None``."""
    found = problem.values.get(_FOUND)
    return found if isinstance(found, Misspelling) else None
