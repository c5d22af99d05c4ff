"""The weekly roundup (``newsletter weekly build [WEEK]``): ``issues/DATE-hebdo/`` made from the items
of the week's sent daily issues, for the readers who chose to receive one message a week.

DATE is the ISO week's last day (its Sunday), whatever day the roundup is built or sent on, so that
``weekly build 2026-W49`` always names the same folder. The items are chosen, in this order of
preference: by readers' unique clicks when the week's issues have counted links with clicks; else the
items the editors flagged ``weekly: true``; else the first item of each day. The folder is an ordinary
issue: the editor rewrites its intro, checks, approves and sends it like any other.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Mapping, Sequence

from babel.dates import format_date

from newsletter.config import Settings
from newsletter.content.load import issue_folder, load_issue
from newsletter.content.model import Item
from newsletter.core.atomic import write_atomically
from newsletter.core.issue_id import WEEKLY_SLUG, IssueId
from newsletter.errors import ScaffoldError, UsageError

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class Chosen:
    """An item of a sent issue that goes into the roundup, and why."""

    day: date
    item: Item
    clicks: int = 0


@dataclass(frozen=True)
class WeeklyBuild:
    """What ``weekly build`` wrote."""

    issue: IssueId
    folder: Path
    files: list[Path]
    chosen: list[Chosen]
    by: str  # "clicks", "flags" or "first items"
    days: list[date]  # the sent issues it was made from


def week_bounds(week: str | None, today: date) -> tuple[date, date]:
    """The Monday and Sunday of the ISO week ``YYYY-Www`` (default: the week of ``today``).

    :raises UsageError: for a week that is not written so or does not exist.
    """
    if week is None:
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=6)
    match = _WEEK.fullmatch(week.strip())
    try:
        if match is None:
            raise ValueError(week)
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise UsageError(f"{week!r} is not a week: write it as an ISO week, YYYY-Www, e.g. 2026-W49",
                         hint="leave it out for the current week") from None
    return monday, monday + timedelta(days=6)


def roundup_id(sunday: date) -> IssueId:
    return IssueId(sunday, slug=WEEKLY_SLUG)


def choose(issues: Mapping[date, Sequence[Item]], clicks: Mapping[tuple[date, int], int],
           count: int) -> tuple[list[Chosen], str]:
    """The items of the roundup and how they were chosen (see the module's docstring)."""
    # Each day's first item, then each day's second…: what fills the roundup after the chosen ones.
    rounds = sorted(((day, item) for day in issues for item in issues[day]), key=lambda p: (p[1].number, p[0]))
    score = {(day, item.number): clicks.get((day, item.number), 0) for day, item in rounds}
    if any(score.values()):
        by, first = "clicks", sorted((p for p in rounds if score[(p[0], p[1].number)]),
                                     key=lambda p: -score[(p[0], p[1].number)])
    elif any(item.weekly for _, item in rounds):
        by, first = "flags", [p for p in rounds if p[1].weekly]
    else:
        by, first = "first items", []
    picked = [*first, *(p for p in rounds if p not in first)][:count]
    picked.sort(key=lambda p: (p[0], p[1].number))
    return [Chosen(day, item, score[(day, item.number)]) for day, item in picked], by


def _intro(settings: Settings, monday: date, sunday: date, count: int) -> str:
    """A French intro the editor rewrites (the newsletter's language when it is not French: the same facts)."""
    locale = settings.newsletter.locale
    start, end = format_date(monday, "d MMMM", locale=locale), format_date(sunday, "d MMMM y", locale=locale)
    return ("Bonjour {{ first_name | default(\"à toutes et à tous\") }}, voici les " + str(count)
            + f" informations de la semaine du {start} au {end} à retenir.")


def _yaml_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_weekly(settings: Settings, sent: Sequence[date], clicks: Mapping[tuple[date, int], int],
                 monday: date, sunday: date) -> WeeklyBuild:
    """Write ``issues/SUNDAY-hebdo/`` from the sent daily issues ``sent`` of the week.

    :raises ContentError: when the week has no sent issue.
    :raises ScaffoldError: when the roundup's folder exists (an editor's work is never written over).
    """
    from newsletter.errors import ContentError, N_

    issue = roundup_id(sunday)
    folder = issue_folder(settings.issues_dir, issue)
    if folder.exists() or folder.is_symlink():
        raise ScaffoldError(f"{folder} exists already; the weekly roundup is not built over an editor's work",
                            hint=f"to build it again, move or delete {folder} first, then run `newsletter weekly "
                                 f"build {monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}`")
    days = sorted(d for d in sent if monday <= d <= sunday)
    if not days:
        raise ContentError(N_("no issue was sent in the week of %(monday)s to %(sunday)s; there is nothing to "
                              "make the weekly roundup from"), values={"monday": monday.isoformat(),
                                                                         "sunday": sunday.isoformat()},
                           hint=N_("send the week's issues first, or name another week, e.g. 2026-W49"))
    count = settings.newsletter.items_per_issue
    loaded = {day: list(load_issue(settings.issues_dir, day, count).issue.items) for day in days
              if issue_folder(settings.issues_dir, day).is_dir()}
    chosen, by = choose(loaded, clicks, count)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        files = []
        for number, pick in enumerate(chosen, start=1):
            source = pick.item.path
            target = staging / f"{number:02d}-{source.name.split('-', 1)[-1]}"
            text = source.read_text(encoding="utf-8")
            text = re.sub(r"(?m)^weekly:.*\n", "", text)  # the flag was for this roundup, not for the next
            write_atomically(target, text.encode("utf-8"))
            files.append(target)
            if pick.item.image:
                image = source.parent / pick.item.image
                if image.is_file() and not image.is_symlink():
                    (staging / pick.item.image).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(image, staging / pick.item.image)
        first = chosen[0].item.title if chosen else ""
        subject = "La semaine\u00a0: " + first
        yaml = (f"subject: {_yaml_text(subject)}\n"
                f"preheader: {_yaml_text(' · '.join(c.item.title for c in chosen[1:3]) or first)}\n"
                f"intro: |\n  {_intro(settings, monday, sunday, len(chosen))}\n")
        write_atomically(staging / "issue.yaml", yaml.encode("utf-8"))
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = [folder / "issue.yaml", *(folder / f.name for f in files)]
    return WeeklyBuild(issue, folder, written, chosen, by, days)
