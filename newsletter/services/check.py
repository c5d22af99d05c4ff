"""``newsletter check``: every rule an editor can rely on, all problems reported at once.

The check loads the issue, validates each field, renders the email (which also checks the
Markdown: links, raw HTML, merge fields) and measures the result against Gmail's clipping
limit. It returns the rendered issue too, so that ``build`` and ``preview`` do not render twice.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from newsletter.content.approval import approval_state
from newsletter.brand.look import CONTENT_WIDTH, EMAIL_HEADER, contrast_ratio, contrast_problems
from newsletter.core.issue_id import WEEKLY_SLUG, edition_of
from newsletter.config import CONFIG_FILE, Settings
from newsletter.content.load import load_issue
from newsletter.content.markdown import is_safe_url
from newsletter.content.model import Issue, Item
from newsletter.content.problems import N_, Problem, errors
from newsletter.core.i18n import Quoted
from newsletter.errors import RenderError, UnsafeFileError
from newsletter.core.merge import FieldUse, find_fields
from newsletter.content.publication import read_image, symlink_problems
from newsletter.render.pipeline import RenderedIssue, render_issue
from newsletter.content.stubs import STUB_PLACEHOLDERS

if TYPE_CHECKING:
    from newsletter.store.database import Store

SUBJECT_MAX = 78
PREHEADER_MAX = 110
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif")
IMAGE_MAX_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
#: Characters that no address may hold: they would end the attribute the address is placed in.
_NOT_IN_URL = re.compile(r"[\s\"<>`\\]")
#: Fields whose empty value would leave a hole in a sentence ("Bonjour , …").
_PERSONAL_FIELDS = {"first_name": "first name", "last_name": "last name"}
#: A merge field without a default: whom it leaves with a hole (unknown, none today, one, several).
_NO_DEFAULT = {
    "first_name": (
        N_("{{ first_name }} has no default, so subscribers without a first name would read it as an empty word "
           "(\"Bonjour , …\"); write {{ first_name | default(\"…\") }}"),
        N_("{{ first_name }} has no default, so subscribers without a first name (none of the active ones today) "
           "would read it as an empty word (\"Bonjour , …\"); write {{ first_name | default(\"…\") }}"),
        N_("{{ first_name }} has no default, so %(count)d active subscriber without a first name would read it as "
           "an empty word (\"Bonjour , …\"); write {{ first_name | default(\"…\") }}"),
        N_("{{ first_name }} has no default, so %(count)d active subscribers without a first name would read it as "
           "an empty word (\"Bonjour , …\"); write {{ first_name | default(\"…\") }}")),
    "last_name": (
        N_("{{ last_name }} has no default, so subscribers without a last name would read it as an empty word "
           "(\"Bonjour , …\"); write {{ last_name | default(\"…\") }}"),
        N_("{{ last_name }} has no default, so subscribers without a last name (none of the active ones today) "
           "would read it as an empty word (\"Bonjour , …\"); write {{ last_name | default(\"…\") }}"),
        N_("{{ last_name }} has no default, so %(count)d active subscriber without a last name would read it as "
           "an empty word (\"Bonjour , …\"); write {{ last_name | default(\"…\") }}"),
        N_("{{ last_name }} has no default, so %(count)d active subscribers without a last name would read it as "
           "an empty word (\"Bonjour , …\"); write {{ last_name | default(\"…\") }}")),
}
#: Realistic per-recipient values for measuring the size a subscriber receives.
SIZE_PROBE = {
    "first_name": "Marie-Christine",
    "last_name": "Dupont-Lefebvre",
    "email": "marie-christine.dupont-lefebvre@entreprise.example.org",
    "unsubscribe_url": "https://news.example.org/u/" + "x" * 80,
    "preferences_url": "https://news.example.org/p/" + "x" * 80,
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
        problems.append(Problem(path, line, N_("'%(name)s' contains a line break or control character; "
                                               "write it on one line"), values={"name": name}, field=name))
    if limit and len(value) > limit:
        problems.append(Problem(path, line, N_("'%(name)s' has %(count)d characters; keep it to %(limit)d or fewer"),
                                values={"name": name, "count": len(value), "limit": limit}, field=name))
    if _TAG.search(value):
        problems.append(Problem(path, line, N_("'%(name)s' contains HTML, which is shown as plain text; "
                                               "remove the tags"), "warning", values={"name": name}, field=name))


def _check_meta(issue: Issue, problems: list[Problem]) -> None:
    path = issue.meta_path
    _text_field(path, issue.lines.get("subject", 1), "subject", issue.subject, problems, limit=SUBJECT_MAX)
    _text_field(path, issue.lines.get("preheader", 1), "preheader", issue.preheader, problems, limit=PREHEADER_MAX)
    for name in ("subject", "preheader"):
        if find_fields(getattr(issue, name)):
            problems.append(Problem(path, issue.lines.get(name, 1), N_("merge fields cannot be used in the "
                                                                       "%(name)s; use them in the intro or an item"),
                                    values={"name": name}, field=name))


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


_PLACEHOLDERS = [(p, _normalized(p)) for p in STUB_PLACEHOLDERS]


_STUB_IN_FIELD = N_("'%(name)s' still holds the placeholder text %(placeholder)s written by `newsletter new`; "
                    "replace it with the real text")
_STUB_IN_INTRO = N_("the intro still holds the placeholder text %(placeholder)s written by `newsletter new`; "
                    "replace it with the real text")
_STUB_IN_TEXT = N_("the text still holds the placeholder text %(placeholder)s written by `newsletter new`; "
                   "replace it with the real text")


def _check_stub_text(path: Path, template: str, name: str, text: str, first_line: int,
                     problems: list[Problem]) -> None:
    """An error for each line of ``text`` still holding a placeholder of the ``newsletter new`` stubs."""
    for offset, line in enumerate(text.split("\n")):
        found = next((p for p, normal in _PLACEHOLDERS if normal in _normalized(line)), None)
        if found:
            problems.append(Problem(path, first_line + offset, template,
                                    values={"name": name, "placeholder": Quoted(found)}, field=name))


def _check_stubs(issue: Issue, problems: list[Problem]) -> None:
    path = issue.meta_path
    for name in ("subject", "preheader"):
        _check_stub_text(path, _STUB_IN_FIELD, name, getattr(issue, name), issue.lines.get(name, 1), problems)
    _check_stub_text(path, _STUB_IN_INTRO, "intro", issue.intro, issue.intro_line, problems)
    for item in issue.items:
        for name in ("title", "source", "url", "image", "image_alt", "tag"):
            _check_stub_text(item.path, _STUB_IN_FIELD, name, getattr(item, name), item.line_of(name), problems)
        _check_stub_text(item.path, _STUB_IN_TEXT, "body", item.body, item.body_line, problems)


def _check_attribute_values(item: Item, problems: list[Problem]) -> None:
    """Values placed in HTML attributes: addresses must be plain URLs, alt texts without ``"``."""
    for name in ("url", "image"):
        bad = _NOT_IN_URL.search(getattr(item, name))
        if bad:
            problems.append(Problem(item.path, item.line_of(name), N_(
                "'%(name)s' contains %(character)s, which an address cannot hold; copy the address again from the "
                "browser's address bar (spaces and quotes are written %%20 and %%22 there)"),
                values={"name": name, "character": Quoted(bad.group(0))}, field=name))
    if '"' in item.image_alt:
        problems.append(Problem(item.path, item.line_of("image_alt"), N_("'%(name)s' contains '\"'; write quotes "
                                "as « » (a straight double quote would end the alt attribute)"),
                                values={"name": "image_alt"}, field="image_alt"))


def _field_uses(issue: Issue) -> Iterable[tuple[Path, int, FieldUse]]:
    """Every well-formed merge field of the intro and the item texts, with its file and line."""
    sources = [(issue.meta_path, issue.intro_line, issue.intro)]
    sources += [(item.path, item.body_line, item.body) for item in issue.items]
    for path, first_line, text in sources:
        for use in find_fields(text):
            if not use.error:
                yield path, first_line + text.count("\n", 0, use.start), use


def _check_defaults(issue: Issue, store: Store | None, problems: list[Problem]) -> None:
    """Warn about ``{{ first_name }}`` without a default, counting who would get a hole."""
    counts: dict[str, int | None] = {}
    for path, line, use in _field_uses(issue):
        if use.field not in _PERSONAL_FIELDS or use.has_default:
            continue
        if use.field not in counts:
            counts[use.field] = _count_without(store, use.field)
        count = counts[use.field]
        if count is None:
            template = _NO_DEFAULT[use.field][0]
        elif count == 0:
            template = _NO_DEFAULT[use.field][1]
        else:
            template = _NO_DEFAULT[use.field][2 if count == 1 else 3]
        problems.append(Problem(path, line, template, "warning", values={"count": count or 0}))


def _count_without(store: Store | None, field: str) -> int | None:
    if store is None:
        return None
    from newsletter.store.subscribers import count_active_without

    return count_active_without(store, field)


def _check_item(item: Item, issue: Issue, settings: Settings, problems: list[Problem]) -> None:
    limits = settings.content
    path = item.path
    _check_attribute_values(item, problems)
    _check_own_words(item, problems)
    _text_field(path, item.line_of("title"), "title", item.title, problems, limit=limits.max_title_chars)
    for name in ("source", "tag", "image_alt"):
        _text_field(path, item.line_of(name), name, getattr(item, name), problems)
    for name in ("title", "source", "tag", "image_alt", "url", "image"):
        if find_fields(getattr(item, name)):
            problems.append(Problem(path, item.line_of(name), N_("merge fields cannot be used in '%(name)s'"),
                                    values={"name": name}, field=name))
    if item.url and not is_safe_url(item.url):
        problems.append(Problem(path, item.line_of("url"), N_("url %(url)s must be a complete http:// or https:// "
                                                              "address"), values={"url": Quoted(item.url[:60])},
                                    field="url"))
    if item.image and not is_safe_url(item.image):
        _check_image_file(item, issue, problems)
    elif item.image and not item.image.lower().startswith("https://"):
        # The archive's Content-Security-Policy and mail clients block or flag plain-http images.
        problems.append(Problem(path, item.line_of("image"), N_(
            "image %(image)s: use https:// (an image over plain http is blocked on the archive page and flagged by "
            "mail clients), or a file of the issue folder"), values={"image": Quoted(item.image[:60])}, field="image"))


#: A text at least this similar (0–100) to the page's description is still the page's words.
OWN_WORDS_SIMILARITY = 80.0


def _check_own_words(item: Item, problems: list[Problem]) -> None:
    """An error while the text is still the description ``draft --from`` copied from the page."""
    if not item.description or not item.body.strip():
        return
    from rapidfuzz import fuzz

    if fuzz.partial_ratio(_normalized(item.description), _normalized(item.body)) >= OWN_WORDS_SIMILARITY:
        problems.append(Problem(item.path, item.body_line, N_(
            "the text is still the page's own description, copied by `newsletter draft`; rewrite it in your own "
            "words (then the 'description' line can go)"), field="body",
            said=N_("the text is still the page's own description; rewrite it in your own words")))


def _check_image_file(item: Item, issue: Issue, problems: list[Problem]) -> None:
    line = item.line_of("image")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", item.image):
        problems.append(Problem(item.path, line, N_("image %(image)s: use a file of the issue folder (images/…) or "
                                                    "an https:// address"), values={"image": Quoted(item.image[:60])}))
        return
    folder = issue.folder.resolve()
    target = (folder / item.image).resolve()
    path = issue.folder / item.image
    if any(p.is_symlink() for p in (path, *path.parents) if issue.folder in p.parents):
        return  # reported once, as a link, by symlink_problems
    if not target.is_relative_to(folder):
        problems.append(Problem(item.path, line, N_("image %(image)s is outside the issue folder; put the file in "
                                                    "the issue's images/ folder"), values={"image": Quoted(item.image)}))
    elif not target.is_file():
        problems.append(Problem(item.path, line, N_("image file %(image)s does not exist in %(folder)s/"),
                                values={"image": Quoted(item.image), "folder": issue.folder.name}))
    elif target.suffix.lower() not in IMAGE_TYPES:
        problems.append(Problem(item.path, line, N_("image %(image)s: mail clients show %(types)s files; convert it"),
                                values={"image": Quoted(item.image), "types": ", ".join(IMAGE_TYPES)}))
    elif unsafe := _unsafe_image(issue, item.image):
        problems.append(Problem(item.path, line, N_("image %(reason)s"), values={"reason": unsafe}))
    elif target.stat().st_size > IMAGE_MAX_BYTES:
        problems.append(Problem(item.path, line, N_("image %(image)s weighs %(size)d KB; keep images under 1 MB so "
                                                    "that the email loads fast"), "warning",
                                values={"image": Quoted(item.image), "size": target.stat().st_size // 1024}))
    else:
        _check_sharpness(item.path, line, item.image, target.read_bytes(), CONTENT_WIDTH, problems)


#: Phones draw two or three device pixels per CSS pixel: an image is sharp from twice its shown width.
SHARP_FACTOR = 2


def _check_sharpness(path: Path, line: int | None, name: str, data: bytes, shown: int,
                     problems: list[Problem]) -> None:
    """Warn when ``data`` (an image shown ``shown`` CSS pixels wide) has fewer than twice as many pixels."""
    width = _image_size(data)[0]
    if 0 < width < SHARP_FACTOR * shown:
        problems.append(Problem(path, line, N_(
            "image %(image)s is %(width)d pixels wide and shown %(shown)d wide: blurry on phones and high-density "
            "screens; use one at least %(needed)d pixels wide"), "warning",
            values={"image": Quoted(name), "width": width, "shown": shown, "needed": SHARP_FACTOR * shown}))


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the header alone; ``(0, 0)`` when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return 0, 0


def _dominant_colour(data: bytes) -> str | None:
    """The commonest colour of the opaque pixels (``#rrggbb``), or None for an unreadable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((128, 128))
            colours = image.convert("RGBA").getcolors(maxcolors=128 * 128) or []
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    opaque = [(count, rgba[:3]) for count, rgba in colours if isinstance(rgba, tuple) and rgba[3] >= 128]
    if not opaque:
        return None
    r, g, b = max(opaque)[1]
    return f"#{r:02x}{g:02x}{b:02x}"


#: The masthead in dark mode when [brand] leaves header_color to the email (templates/email.mjml.j2).
DARK_HEADER = "#0d1b2a"
#: WCAG 2.x for graphics that carry meaning (1.4.11, non-text contrast).
GRAPHIC_RATIO = 3.0


def _unsafe_image(issue: Issue, relative: str) -> UnsafeFileError | None:
    try:
        read_image(issue.folder, relative)
    except UnsafeFileError as err:
        return err
    return None


def _toml_line(path: Path, table: str, key: str) -> int | None:
    """The line of ``key`` in ``[table]`` of a TOML file (None when it is not written there)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    inside = False
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.split("#")[0].strip() == f"[{table}]"
        elif inside and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
    return None


def brand_problems(settings: Settings) -> list[Problem]:
    """The ``[brand]`` rules: colours readable on their backgrounds (WCAG AA), a logo with alt text
    and still safe to publish. Each problem points at the key in ``newsletter.toml``."""
    brand = settings.brand
    if brand is None:
        return []
    path = settings.root / CONFIG_FILE
    problems = [Problem(path, _toml_line(path, "brand", found.key), found.TEMPLATE, values=found.values())
                for found in contrast_problems(settings)]
    if brand.logo and not brand.logo_alt:
        problems.append(Problem(path, _toml_line(path, "brand", "logo"), N_(
            "[brand] logo has no logo_alt: readers whose mail client blocks images, and screen readers, get nothing; "
            "add logo_alt = \"%(name)s\" (what the logo says) under [brand]"), values={"name": settings.newsletter.name}))
    if brand.logo:
        try:
            logo = read_image(settings.root, brand.logo)
        except UnsafeFileError as err:
            problems.append(Problem(path, _toml_line(path, "brand", "logo"), N_(
                "[brand] logo: %(reason)s; the email shows no logo until the file is fixed"), values={"reason": err}))
        else:
            line = _toml_line(path, "brand", "logo")
            _check_sharpness(path, line, brand.logo, logo.data, min(brand.logo_width, CONTENT_WIDTH), problems)
            _check_logo_contrast(path, line, brand.logo, logo.data, brand.header_color, problems)
    return problems


def _check_logo_contrast(path: Path, line: int | None, name: str, data: bytes, header_color: str,
                         problems: list[Problem]) -> None:
    """Warn when the logo's main colour is under 3:1 against the masthead, in the light or the dark scheme
    (a brand's header_color stays in dark mode; the email's own masthead turns :data:`DARK_HEADER`)."""
    colour = _dominant_colour(data)
    if colour is None:
        return
    for background in dict.fromkeys((header_color,) if header_color else (EMAIL_HEADER, DARK_HEADER)):
        ratio = contrast_ratio(colour, background)
        if ratio < GRAPHIC_RATIO:
            problems.append(Problem(path, line, N_(
                "[brand] logo %(image)s: its colour %(colour)s on the masthead's %(background)s has a contrast of "
                "%(ratio).2f:1, under 3:1, and the logo hardly shows; set header_color to a colour that sets it "
                "off, or use a logo drawn for it"), "warning",
                values={"image": Quoted(name), "colour": colour, "background": background, "ratio": ratio}))
            return


def check_rendered(rendered: RenderedIssue, settings: Settings) -> list[Problem]:
    """Checks that need the rendered email: word counts and the clipping budget."""
    problems: list[Problem] = []
    html, _ = rendered.personalize(SIZE_PROBE)
    size = len(html.encode("utf-8"))
    budget = settings.content.max_html_bytes
    if size > budget:
        problems.append(Problem(rendered.issue.folder, None, N_(
            "the email's HTML weighs %(size).0f KB, over the %(budget).0f KB at which Gmail clips messages; shorten "
            "the items"), values={"size": size / 1024, "budget": budget / 1024}))
    return problems


def recent_issues(settings: Settings, day: date, store: Store) -> list[tuple[date, tuple[Item, ...]]]:
    """The items of the issues sent within ``[check] repeat_days`` before ``day`` (their folders as they are)."""
    from datetime import timedelta

    from newsletter.errors import IssueNotFoundError
    from newsletter.store.archive import published

    since = day - timedelta(days=settings.check.repeat_days)
    recent = []
    for sent in published(store):
        if not since <= sent.day < day:
            continue
        try:
            loaded = load_issue(settings.issues_dir, sent.day, settings.newsletter.items_per_issue)
        except IssueNotFoundError:
            continue  # its folder was removed: nothing left to compare with
        recent.append((sent.day, loaded.issue.items))
    return recent


def _check_repeats(issue: Issue, settings: Settings, store: Store | None, problems: list[Problem]) -> None:
    """Warn about each item whose link or title went out in an issue sent within ``repeat_days``."""
    if store is None or not settings.check.repeat_days or edition_of(issue.date) == WEEKLY_SLUG:
        return  # (the weekly roundup repeats the week's items by design)
    from newsletter.content.repeats import find_repeats

    for repeat in find_repeats(issue.items, recent_issues(settings, issue.date, store)):
        item = repeat.item
        if repeat.by == "url":
            problems.append(Problem(item.path, item.line_of("url"), N_(
                "this link already went out in the issue of %(day)s (%(file)s); is it news again?"), "warning",
                values={"day": repeat.day.isoformat(), "file": repeat.earlier.path.name}))
        else:
            problems.append(Problem(item.path, item.line_of("title"), N_(
                "this title is nearly the one of %(title)s, sent in the issue of %(day)s; is it news again?"),
                "warning", values={"day": repeat.day.isoformat(), "title": Quoted(repeat.earlier.title)}))


def spelling(issue: Issue, settings: Settings) -> list[Problem]:
    """Warnings for the unknown words (``[check] spelling``); one notice when no dictionary can be loaded."""
    if not settings.check.spelling:
        return []
    from newsletter.content.spelling import SpellingUnavailable, spelling_problems

    path = settings.root / CONFIG_FILE
    try:
        return spelling_problems(issue, settings.newsletter.locale, settings.root / settings.check.dictionary)
    except SpellingUnavailable as err:
        return [Problem(path, _toml_line(path, "check", "spelling"), N_(
            "spelling is not checked: %(reason)s; or set spelling = false under [check]"), "warning",
            values={"reason": err})]


def check_issue(settings: Settings, day: date, *, asset_base: str | None = None,
                store: Store | None = None, spelling_words: bool = True) -> CheckReport:
    """Run every check on the issue of ``day``.

    :param spelling_words: False for a send, which only needs the errors: the spelling check gives
        warnings only, and loading a dictionary would add about half a second to every send's start.

    :param asset_base: passed to :func:`render_issue` (``preview`` serves images itself).
    :param store: the subscriber store, when one exists, to count the subscribers a merge field
        without a default would leave a hole for; without it the warning has no figure.

    :raises IssueNotFoundError: when the issue folder does not exist.
    """
    loaded = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue)
    issue, problems = loaded.issue, loaded.problems
    _check_meta(issue, problems)
    problems.extend(p for p in symlink_problems(issue.folder) if p not in problems)  # load reports the items
    _check_stubs(issue, problems)
    _check_defaults(issue, store, problems)
    for item in issue.items:
        _check_item(item, issue, settings, problems)
    rendered: RenderedIssue | None = None
    try:
        rendered = render_issue(issue, settings, asset_base=asset_base)
    except RenderError as err:
        problems.append(Problem(settings.templates_dir, None, N_("the email could not be rendered: %(error)s"),
                                values={"error": err}))
    if rendered is not None:
        problems.extend(rendered.problems)
        limit = settings.content.max_words
        for item, words in zip(issue.items, rendered.item_words):
            if words > limit:
                problems.append(Problem(item.path, item.body_line, N_("the text has %(words)d words; keep it to "
                                                                      "%(limit)d or fewer (it is a short item)"),
                                        values={"words": words, "limit": limit}))
        problems.extend(check_rendered(rendered, settings))
    problems.extend(brand_problems(settings))
    _check_repeats(issue, settings, store, problems)
    if spelling_words:
        problems.extend(spelling(issue, settings))
    approval = approval_state(issue.folder)
    if approval.state == "stale":
        shown = ", ".join(approval.changed[:5]) + (" …" if len(approval.changed) > 5 else "")
        problems.append(Problem(approval.path, None, N_("approved by %(name)s on %(when)s, but changed since "
                                                        "(%(files)s); approve it again"), "warning",
                                values={"name": approval.approved_by, "when": approval.approved_at, "files": shown}))
    elif approval.state == "unreadable":
        problems.append(Problem(approval.path, None, N_("%(file)s cannot be read (%(reason)s); approve the issue "
                                                        "again"), "warning",
                                values={"file": approval.path.name, "reason": approval.reason}))
    problems.sort(key=lambda p: (str(p.path), p.line or 0))
    return CheckReport(issue, problems, rendered)

