"""Which issue: the daily one of a date (``2026-12-07``, folder ``issues/2026-12-07/``) or a special
edition of that date (``2026-12-07-speciale``, folder ``issues/2026-12-07-speciale/``).

:class:`IssueId` is a :class:`~datetime.date` with a slug, so that every operation that took the
issue's date takes the issue: the daily's id is its date (equal, same hash, same ``isoformat()``),
and nothing on the daily path changes. An edition's id equals only itself; its ``isoformat()`` and
``str()`` are the id, which is what its folder, its messages' Message-ID, its archive URL and every
message naming the issue say. The store keys an issue by ``(issue_date, edition)``: :func:`day_of`
and :func:`edition_of` split an id into those two columns, and :meth:`IssueId.stored` joins them back.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from newsletter.errors import N_, UsageError

#: An edition's slug: lowercase ASCII letters, digits and single inner hyphens; short, since it is a
#: folder name, part of an URL and of a Message-ID.
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX = 40
#: The weekly roundup's slug (``newsletter weekly build``).
WEEKLY_SLUG = "hebdo"
_ID = re.compile(r"(\d{4}-\d{2}-\d{2})(?:-(.*))?", re.DOTALL)


class IssueId(date):
    """A date and an edition slug (``""`` for the daily issue); see the module's docstring."""

    slug: str

    def __new__(cls, year: int | date, month: int = 1, day: int = 1, slug: str = "") -> "IssueId":
        if isinstance(year, date):  # IssueId(date(2026, 12, 7), slug="speciale")
            year, month, day = year.timetuple()[:3]
        self = super().__new__(cls, year, month, day)
        self.slug = checked_slug(slug) if slug else ""
        return self

    @classmethod
    def parse(cls, text: str) -> "IssueId":
        """``DATE`` or ``DATE-SLUG``, as a person types it.

        :raises UsageError: naming what is wrong and what is allowed.
        """
        text = text.strip()
        match = _ID.fullmatch(text)
        if match is None:
            raise UsageError(N_("'%(text)s' is not an issue: write the date as YYYY-MM-DD (e.g. 2026-12-07), or the "
                                "date and an edition's name (e.g. 2026-12-07-speciale)"), values={"text": _shown(text)})
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            raise UsageError(N_("'%(text)s' is not an issue: %(date)s is not a date (YYYY-MM-DD, e.g. 2026-12-07)"),
                             values={"text": _shown(text), "date": match.group(1)}) from None
        slug = match.group(2)
        if slug is not None and not slug:
            raise UsageError(N_("'%(text)s' is not an issue: the edition's name after the date is empty"),
                             hint=N_("write %(date)s for the daily issue, or %(date)s-speciale"),
                             values={"text": _shown(text), "date": match.group(1)})
        return cls(day, slug=slug or "")

    @classmethod
    def stored(cls, day: date, edition: str) -> "IssueId | date":
        """The id of a store row: its ``issue_date`` (the daily's, as it is) with its ``edition``."""
        return cls(day, slug=edition) if edition else day

    def isoformat(self) -> str:
        base = date.isoformat(self)
        return f"{base}-{self.slug}" if self.slug else base

    def __str__(self) -> str:
        return self.isoformat()

    def __repr__(self) -> str:
        return f"IssueId({self.isoformat()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, date):
            return NotImplemented
        return date.__eq__(self, other) and self.slug == edition_of(other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return date.__hash__(self) if not self.slug else hash((date.isoformat(self), self.slug))

    def __reduce__(self) -> tuple[Any, ...]:
        return IssueId.parse, (self.isoformat(),)


def _shown(text: str) -> str:
    """``text`` as a message quotes it: control characters escaped (``\\n``, ``\\x1b``), never written raw."""
    return repr(text)[1:-1]


def checked_slug(slug: str) -> str:
    """An edition's slug as typed (``--edition``): lowercase ASCII letters, digits and hyphens.

    :raises UsageError: saying what is allowed.
    """
    if len(slug) > SLUG_MAX or not SLUG.fullmatch(slug):
        raise UsageError(N_("'%(slug)s' is not an edition name: use lowercase letters a-z, digits and hyphens (no "
                            "accent, space, slash or dot; not starting or ending with a hyphen), at most %(max)d "
                            "characters"), hint=N_("e.g. --edition speciale or --edition elections-2027"),
                         values={"slug": _shown(slug), "max": SLUG_MAX})
    return slug


def edition_of(day: date) -> str:
    """The edition slug of an issue (``""`` for the daily issue or a plain date)."""
    return getattr(day, "slug", "")


def day_of(day: date) -> date:
    """The plain date of an issue (what the store's ``issue_date`` column holds)."""
    return date.fromordinal(day.toordinal()) if isinstance(day, IssueId) else day
