"""What the doctor says: findings (ok / warning / error), each with the one-line fix unless ok.

A finding keeps its English templates and their values (``%(name)s``, marked with ``N_``), so that the
command line says it in the terminal's language (:meth:`Finding.line` with that language's
:class:`~newsletter.core.i18n.Words`); a record, an address or a library's own answer stays a value, as typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from newsletter.core.i18n import fill
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.core.i18n import Gettext, Words


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis: what was checked, what was found and, unless ok, how to fix it.

    ``check`` and ``level`` are names for scripts (``--json``) and never translated; ``template`` and
    ``fix_template`` are English, filled from ``values``: :attr:`message` and :attr:`fix` in English,
    :meth:`text` and :meth:`fix_text` in another language.
    """

    check: str
    level: Level
    template: str
    fix_template: str = ""
    values: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def message(self) -> str:
        return fill(self.template, self.values)

    @property
    def fix(self) -> str:
        return fill(self.fix_template, self.values) if self.fix_template else ""

    def text(self, gettext: Gettext) -> str:
        """The finding in the language of ``gettext``."""
        return fill(self.template, self.values, gettext)

    def fix_text(self, gettext: Gettext) -> str:
        """The fix in the language of ``gettext`` ("" for an ok finding)."""
        return fill(self.fix_template, self.values, gettext) if self.fix_template else ""

    def line(self, spoken: Words | None = None) -> str:
        """``level check: message`` and the fix below it, in ``spoken``'s language (English without it)."""
        if spoken is None:
            text = f"{self.level.value:<7} {self.check}: {self.message}"
            return f"{text}\n        fix: {self.fix}" if self.fix else text
        levels = _levels(spoken)
        width = max(len(word) for word in levels.values())
        gettext = spoken.translations.gettext
        text = spoken.gettext("%(level)s %(check)s: %(finding)s", level=levels[self.level].ljust(width),
                              check=check_name(self.check, spoken), finding=self.text(gettext))
        if not self.fix_template:
            return text
        return text + "\n" + " " * (width + 1) + spoken.gettext("fix: %(fix)s", fix=self.fix_text(gettext))

    def as_dict(self, spoken: Words | None = None) -> dict[str, str]:
        """The finding for ``--json``: ``check`` and ``level`` as names, the sentences in ``spoken``'s language."""
        gettext = spoken.translations.gettext if spoken is not None else None
        return {"check": self.check, "level": self.level.value,
                "message": self.text(gettext) if gettext else self.message,
                "fix": self.fix_text(gettext) if gettext else self.fix}


def _levels(spoken: Words) -> dict[Level, str]:
    return {Level.OK: spoken.pgettext("doctor level", "ok"), Level.WARNING: spoken.pgettext("doctor level", "warning"),
            Level.ERROR: spoken.pgettext("doctor level", "error")}


def check_name(check: str, spoken: Words) -> str:
    """A check's name as the reader says it: its first word translated (``delivery``, ``alignment``), the
    record's domain (``spf example.org``) and protocol names as they are."""
    names = {"config": spoken.pgettext("doctor check", "config"),
             "secret-key": spoken.pgettext("doctor check", "secret-key"),
             "delivery": spoken.pgettext("doctor check", "delivery"),
             "unsubscribe": spoken.pgettext("doctor check", "unsubscribe"),
             "spelling": spoken.pgettext("doctor check", "spelling"),
             "alignment": spoken.pgettext("doctor check", "alignment"),
             "one-click": spoken.pgettext("doctor check", "one-click")}
    first, space, rest = check.partition(" ")
    return names.get(first, first) + space + rest


@dataclass(frozen=True)
class HintOf:
    """An error's hint as a finding's fix: said in the reader's language as the error says it."""

    err: NewsletterError

    def __str__(self) -> str:
        return self.err.hint

    def text(self, gettext: Gettext) -> str:
        return self.err.hint_text(gettext)


def ok(check: str, message: str, **values: Any) -> Finding:
    return Finding(check, Level.OK, message, values=values)


def warning(check: str, message: str, fix: str, **values: Any) -> Finding:
    return Finding(check, Level.WARNING, message, fix, values)


def error(check: str, message: str, fix: str, **values: Any) -> Finding:
    return Finding(check, Level.ERROR, message, fix, values)


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level is Level.ERROR for f in findings)
