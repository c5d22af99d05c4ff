"""``newsletter check``: every rule an editor can rely on, all problems reported at once.

The check loads the issue, validates each field, renders the email (which also checks the
Markdown: links, raw HTML, merge fields) and measures the result against Gmail's clipping
limit. It returns the rendered issue too, so that ``build`` and ``preview`` do not render twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter.approval import approval_state
from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.content.markdown import is_safe_url
from newsletter.content.model import Issue, Item
from newsletter.content.problems import Problem, errors
from newsletter.errors import RenderError
from newsletter.merge import find_fields
from newsletter.publication import UnsafeFileError, read_image, symlink_problems
from newsletter.render.pipeline import RenderedIssue, render_issue

SUBJECT_MAX = 78
PREHEADER_MAX = 110
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif")
IMAGE_MAX_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
#: Realistic per-recipient values for measuring the size a subscriber receives.
SIZE_PROBE = {
    "first_name": "Marie-Christine",
    "last_name": "Dupont-Lefebvre",
    "email": "marie-christine.dupont-lefebvre@entreprise.example.org",
    "unsubscribe_url": "https://news.example.org/u/" + "x" * 80,
}


@dataclass
class CheckReport:
    """What ``check`` found; ``rendered`` is ``None`` when the templates could not render."""

    issue: Issue
    problems: list[Problem]
    rendered: RenderedIssue | None

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


def _text_field(path: Path, line: int, name: str, value: str, problems: list[Problem], *, limit: int = 0) -> None:
    if _CONTROL.search(value):
        problems.append(Problem(path, line, f"'{name}' contains a line break or control character; "
                                "write it on one line"))
    if limit and len(value) > limit:
        problems.append(Problem(path, line, f"'{name}' has {len(value)} characters; keep it to {limit} or fewer"))
    if _TAG.search(value):
        problems.append(Problem(path, line, f"'{name}' contains HTML, which is shown as plain text; "
                                "remove the tags", "warning"))


def _check_meta(issue: Issue, problems: list[Problem]) -> None:
    path = issue.meta_path
    _text_field(path, issue.lines.get("subject", 1), "subject", issue.subject, problems, limit=SUBJECT_MAX)
    _text_field(path, issue.lines.get("preheader", 1), "preheader", issue.preheader, problems, limit=PREHEADER_MAX)
    for name in ("subject", "preheader"):
        if find_fields(getattr(issue, name)):
            problems.append(Problem(path, issue.lines.get(name, 1), f"merge fields cannot be used in the {name}; "
                                    "use them in the intro or an item"))


def _check_item(item: Item, issue: Issue, settings: Settings, problems: list[Problem]) -> None:
    limits = settings.content
    path = item.path
    _text_field(path, item.line_of("title"), "title", item.title, problems, limit=limits.max_title_chars)
    for name in ("source", "tag", "image_alt"):
        _text_field(path, item.line_of(name), name, getattr(item, name), problems)
    for name in ("title", "source", "tag", "image_alt", "url", "image"):
        if find_fields(getattr(item, name)):
            problems.append(Problem(path, item.line_of(name), f"merge fields cannot be used in '{name}'"))
    if item.url and not is_safe_url(item.url):
        problems.append(Problem(path, item.line_of("url"), f"url {item.url[:60]!r} must be a complete "
                                "http:// or https:// address"))
    if item.image and not is_safe_url(item.image):
        _check_image_file(item, issue, problems)


def _check_image_file(item: Item, issue: Issue, problems: list[Problem]) -> None:
    line = item.line_of("image")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", item.image):
        problems.append(Problem(item.path, line, f"image {item.image[:60]!r}: use a file of the issue folder "
                                "(images/…) or an https:// address"))
        return
    folder = issue.folder.resolve()
    target = (folder / item.image).resolve()
    path = issue.folder / item.image
    if any(p.is_symlink() for p in (path, *path.parents) if issue.folder in p.parents):
        return  # reported once, as a link, by symlink_problems
    if not target.is_relative_to(folder):
        problems.append(Problem(item.path, line, f"image {item.image!r} is outside the issue folder; "
                                "put the file in the issue's images/ folder"))
    elif not target.is_file():
        problems.append(Problem(item.path, line, f"image file {item.image!r} does not exist in {issue.folder.name}/"))
    elif target.suffix.lower() not in IMAGE_TYPES:
        problems.append(Problem(item.path, line, f"image {item.image!r}: mail clients show {', '.join(IMAGE_TYPES)} "
                                "files; convert it"))
    elif problem := _unsafe_image(issue, item.image):
        problems.append(Problem(item.path, line, f"image {problem}"))
    elif target.stat().st_size > IMAGE_MAX_BYTES:
        problems.append(Problem(item.path, line, f"image {item.image!r} weighs {target.stat().st_size // 1024} KB; "
                                "keep images under 1 MB so that the email loads fast", "warning"))


def _unsafe_image(issue: Issue, relative: str) -> str:
    try:
        read_image(issue.folder, relative)
    except UnsafeFileError as err:
        return str(err)
    return ""


def check_rendered(rendered: RenderedIssue, settings: Settings) -> list[Problem]:
    """Checks that need the rendered email: word counts and the clipping budget."""
    problems: list[Problem] = []
    html, _ = rendered.personalize(SIZE_PROBE)
    size = len(html.encode("utf-8"))
    budget = settings.content.max_html_bytes
    if size > budget:
        problems.append(Problem(rendered.issue.folder, None, f"the email's HTML weighs {size / 1024:.0f} KB, over the "
                                f"{budget / 1024:.0f} KB at which Gmail clips messages; shorten the items"))
    return problems


def check_issue(settings: Settings, day: date, *, asset_base: str | None = None) -> CheckReport:
    """Run every check on the issue of ``day``.

    :param asset_base: passed to :func:`render_issue` (``preview`` serves images itself).

    :raises IssueNotFoundError: when the issue folder does not exist.
    """
    loaded = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue)
    issue, problems = loaded.issue, loaded.problems
    _check_meta(issue, problems)
    problems.extend(symlink_problems(issue.folder))
    for item in issue.items:
        _check_item(item, issue, settings, problems)
    rendered: RenderedIssue | None = None
    try:
        rendered = render_issue(issue, settings, asset_base=asset_base)
    except RenderError as err:
        problems.append(Problem(settings.templates_dir, None, f"the email could not be rendered: {err}"))
    if rendered is not None:
        problems.extend(rendered.problems)
        limit = settings.content.max_words
        for item, words in zip(issue.items, rendered.item_words):
            if words > limit:
                problems.append(Problem(item.path, item.body_line, f"the text has {words} words; keep it to {limit} "
                                        "or fewer (it is a short item)"))
        problems.extend(check_rendered(rendered, settings))
    approval = approval_state(issue.folder)
    if approval.state in ("stale", "unreadable"):
        problems.append(Problem(approval.path, None, approval.describe(), "warning"))
    problems.sort(key=lambda p: (str(p.path), p.line or 0))
    return CheckReport(issue, problems, rendered)

