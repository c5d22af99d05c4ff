"""« Lecture »: what readers did with the issues, as charts drawn here in SVG (no script, nothing
fetched from elsewhere: the desk's CSP allows neither).

``/lecture/`` shows the last 30 days: readers per issue, and the click rate by position and by
tag; ``/lecture/DAY`` one issue: each item's readers, the scanners' requests told apart, the
feedback votes. The figures are the library's (``nl.clicks``); this module only lays out the bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel.numbers import format_percent
from flask import Blueprint, abort, render_template

from newsletter.errors import NoClicksError, UsageError
from newsletter.library import IssueId
from newsletter.frontends.desk.access import newsletter, requires
from newsletter.frontends.desk.words import spoken

bp = Blueprint("reading", __name__, url_prefix="/lecture")

#: The period of the overview.
DAYS = 30
#: The column chart's drawing box (SVG units; the browser scales it to the page's width).
WIDTH, HEIGHT = 600, 180


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the figure shown and its share of the longest bar (0–100)."""

    label: str
    shown: str
    share: float
    title: str = ""  # the bar's tooltip and accessible name
    link: str = ""
    extra: float = 0.0  # a second, lighter part (the scanners' requests), in the same unit as share


@dataclass(frozen=True)
class Column:
    """One column of the per-issue chart, in SVG units."""

    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    link: str


def _share(value: float, top: float) -> float:
    return round(100 * value / top, 1) if top else 0.0


def _percent(rate: float) -> str:
    """A rate with one decimal in the desk's language: « 40,0 % » (the narrow no-break space of French
    typography, as the email has it), « 40.0% »."""
    locale = spoken().locale
    said = format_percent(rate, "#,##0.0%", locale=locale)
    return said.replace("%", "\u202f%") if locale.language == "fr" else said


def _columns(points: list[tuple[date, int, str]]) -> list[Column]:
    """Columns for (day, readers, link), oldest on the left, scaled to the tallest."""
    if not points:
        return []
    top = max(count for _, count, _ in points) or 1
    step = WIDTH / len(points)
    width = max(step * 0.7, 1.0)
    columns = []
    for n, (day, count, link) in enumerate(sorted(points)):
        height = (HEIGHT - 20) * count / top
        columns.append(Column(round(n * step + (step - width) / 2, 1), round(HEIGHT - 20 - height, 1), round(width, 1),
                              round(height, 1), f"{day.day:02d}/{day.month:02d}", f"{day.isoformat()}\u00a0: {count}",
                              link))
    return columns


@bp.route("/")
@requires("read")
def overview() -> str:
    """The last 30 days: readers per issue, rates by position and by tag."""
    from flask import url_for

    trends = newsletter().clicks.trends(DAYS)
    columns = _columns([(IssueId.parse(i.issue), i.unique_clickers,
                         url_for("reading.issue", day=i.issue)) for i in trends.issues])
    top_position = max((t.click_rate for t in trends.positions), default=0.0)
    positions = [Bar(t.key, _percent(t.click_rate), _share(t.click_rate, top_position),
                     f"{t.key}\u00a0: {_percent(t.click_rate)} ({t.unique_clicks})") for t in trends.positions]
    top_tag = max((t.click_rate for t in trends.tags), default=0.0)
    tags = [Bar(t.key, _percent(t.click_rate), _share(t.click_rate, top_tag),
                f"{t.key}\u00a0: {_percent(t.click_rate)} ({t.items})") for t in trends.tags]
    return render_template("desk/reading_days.html", days=DAYS, trends=trends, columns=columns, positions=positions,
                           tags=tags, width=WIDTH, height=HEIGHT,
                           issues=[(IssueId.parse(i.issue), i) for i in trends.issues])


@bp.route("/<day>")
@requires("read")
def issue(day: str) -> str:
    """One issue: each item's readers (and the scanners' requests), the feedback, the totals."""
    try:
        when = IssueId.parse(day)
    except UsageError:
        abort(404)
    try:
        figures = newsletter().clicks.report(when)
    except NoClicksError:
        return render_template("desk/reading_issue.html", issue=when, figures=None, bars=[])
    top = max((max(i.unique_clicks + i.automated, 1) for i in figures.items), default=1)
    bars = [Bar(f"{i.position}. {i.title}", f"{i.unique_clicks} · {_percent(i.click_rate)}",
                _share(i.unique_clicks, top), f"{i.title}\u00a0: {i.unique_clicks} ({i.clicks}), {i.automated}",
                extra=_share(i.automated, top)) for i in figures.items]
    return render_template("desk/reading_issue.html", issue=when, figures=figures, bars=bars,
                           rate=_percent(figures.unique_clickers / figures.delivered if figures.delivered else 0.0))
