"""An issue's public web version, rendered once and frozen with the image files it shows.

The page is rendered for the public (``render_issue(web=True)``): no personal data, no footer
addressed to a subscriber. With it go the issue's items as the feed carries them and the bytes of
every image file the page names (the issue's own and the brand's logo), so that what a send
published (:mod:`newsletter.store.archive`) stays as it was whatever happens to the files later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.content.markdown import is_safe_url
from newsletter.content.model import Issue
from newsletter.content.typography import typographer
from newsletter.errors import NewsletterError, UnsafeFileError
from newsletter.core.merge import CompiledTemplate
from newsletter.content.publication import Image, asset_url, read_image
from newsletter.render.pipeline import LOGO_FOLDER, render_issue
from newsletter.render.rendered import PublicPage

#: Bumped when the frozen page's fields change (the archive shows the files for a page it cannot read).
VERSION = 1
SUMMARY_CHARS = 300


@dataclass(frozen=True)
class Entry:
    """One item of an issue, as the feed carries it."""

    title: str
    summary: str
    url: str


@dataclass(frozen=True)
class Facts:
    """What a correction compares of an item (:mod:`newsletter.services.corrections`): its words, its
    link, its image (the content-hashed name of a file, else its URL)."""

    title: str
    text: str
    source: str
    url: str
    image: str
    tag: str


@dataclass(frozen=True)
class WebVersion:
    """An issue's public page and its items (``facts`` empty for a page frozen before corrections)."""

    html: str
    entries: tuple[Entry, ...]
    facts: tuple[Facts, ...] = ()


def summary(text: str) -> str:
    """``text`` on one line, cut at a word within :data:`SUMMARY_CHARS` (the feed's summaries)."""
    flat = " ".join(text.split())
    if len(flat) <= SUMMARY_CHARS:
        return flat
    return flat[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"


def render_web_version(issue: Issue, settings: Settings) -> tuple[WebVersion, str]:
    """The issue's public page and items, and its subject.

    :raises RenderError: when a template is broken.
    """
    rendered = render_issue(issue, settings, web=True)
    page, _ = rendered.personalize({})  # nobody's data: every field falls back to its default
    typo = typographer(settings.newsletter.locale)  # titles read as in the email: « l’État »
    texts = [CompiledTemplate(text, rendered.slots).render({}) for text in rendered.item_texts]
    entries = tuple(Entry(typo(item.title), summary(text), item.url if is_safe_url(item.url) else "")
                    for item, text in zip(issue.items, texts))
    facts = tuple(Facts(typo(item.title), " ".join(text.split()), item.source, item.url, _image_key(issue, item.image),
                        item.tag) for item, text in zip(issue.items, texts))
    return WebVersion(page, entries, facts), rendered.subject


def _image_key(issue: Issue, image: str) -> str:
    """An item's image as a correction compares it: its bytes' name for a file, else what the item says."""
    if not image or is_safe_url(image):
        return image
    found = _image(issue, image)
    return found.name if found is not None else image


def public_page(issue: Issue, settings: Settings) -> PublicPage:
    """The web version of ``issue`` as it is now, frozen with the bytes of the images it shows.

    :raises RenderError: when a template is broken.
    """
    version, subject = render_web_version(issue, settings)
    images: dict[str, Image] = {}
    for item in issue.items:
        if item.image and not is_safe_url(item.image):
            found = _image(issue, item.image)
            if found is not None and asset_url(settings.newsletter.base_url, issue.date, found) in version.html:
                images[found.relative] = found
    logo = settings.brand.logo if settings.brand else ""
    if logo:
        try:
            mark = read_image(settings.root, logo)
        except UnsafeFileError:
            pass
        else:
            if f"/assets/{LOGO_FOLDER}{mark.name}" in version.html:
                images[LOGO_FOLDER + mark.name] = Image(LOGO_FOLDER + mark.name, mark.data, mark.kind)
    body = {"version": VERSION, "html": version.html, "entries": [[e.title, e.summary, e.url] for e in version.entries],
            "facts": [[f.title, f.text, f.source, f.url, f.image, f.tag] for f in version.facts]}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return PublicPage(subject, text, hashlib.sha256(text.encode()).hexdigest(), tuple(images.values()))


def _image(issue: Issue, relative: str) -> Image | None:
    try:
        return read_image(issue.folder, relative)
    except UnsafeFileError:
        return None


def thaw(layout: str) -> WebVersion:
    """The page and items stored by :func:`public_page`.

    :raises NewsletterError: when the page was frozen by another version of newsletter.
    """
    body = json.loads(layout)
    if body.get("version") != VERSION:
        raise NewsletterError(f"the published page was stored by another version of newsletter (version "
                              f"{body.get('version')!r}, this one reads {VERSION})")
    return WebVersion(body["html"], tuple(Entry(title, summary, url) for title, summary, url in body["entries"]),
                      tuple(Facts(*fields) for fields in body.get("facts", ())))
