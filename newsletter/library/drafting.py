"""``newsletter draft ISSUE --from URL… | --feed URL``: item files prefilled from pages' metadata.

Every page (and its image) is fetched before anything is written: a link that fails leaves the
issue as it was. The page's description becomes the item's text *and* its ``description`` key, so
that ``check`` flags the text until the editor rewrites it in their own words. The image goes
through the desk's upload rules (:meth:`Issues.add_image`: the bytes must be a PNG, JPEG or GIF,
under ``[desk] max_image_bytes``, saved under a safe name).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Sequence
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.core.i18n import Count, Message
from newsletter.errors import N_, FetchError, UsageError

if TYPE_CHECKING:
    from newsletter.library.editing import Author, Issues
    from newsletter.services.sourcing import PageDraft
    from newsletter.store.database import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Editor:
    """Who drafts from the command line (``NEWSLETTER_EDITOR``, else the login name)."""

    name: str
    email: str = ""


@dataclass(frozen=True)
class Drafted:
    """What ``draft`` wrote: the item files, and the notes about what it could not take."""

    files: list[str]
    notes: list[Message] = field(default_factory=list)


def _free(data: bytes) -> bool:
    """An untouched stub of ``newsletter new``: a slot a draft may take."""
    from newsletter.services.scaffold import is_item_stub

    return is_item_stub(data.decode("utf-8", errors="replace"))


def _image(settings: Settings, page: PageDraft, notes: list[Message]) -> tuple[str, bytes] | None:
    """The page's image, fetched; None (with a note) when it cannot be used."""
    from newsletter.content.publication import sniff
    from newsletter.services.fetch import failure_kind, fetch

    if not page.image_url:
        return None
    limit = settings.desk.max_image_bytes
    try:
        answer = fetch(page.image_url, settings.sourcing, accept="image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1",
                       max_bytes=limit)
    except FetchError as err:
        if failure_kind(str(err)) == "too large":
            notes.append(Message(N_("%(url)s: its image %(image)s is over the %(cap)d KB of [desk] max_image_bytes; "
                                    "add a smaller one by hand"),
                                 {"url": page.url, "image": page.image_url, "cap": limit // 1024}))
        else:
            notes.append(Message(N_("%(url)s: its image was not taken: %(reason)s"), {"url": page.url, "reason": err}))
        return None
    if answer.status >= 400 or sniff(answer.body) is None:
        notes.append(Message(N_("%(url)s: its image %(image)s is not a PNG, JPEG or GIF image; add one by hand"),
                             {"url": page.url, "image": page.image_url}))
        return None
    name = PurePosixPath(urlsplit(answer.url).path).name or "image"
    return name, answer.body


def _alt_text(settings: Settings, alt: str) -> str:
    """The page's alt text without straight double quotes, which ``check`` refuses (they would end the
    attribute): paired ones become « » in the newsletter's typography, a lone one ”."""
    from newsletter.content.typography import pair_quotes, typographer

    return typographer(settings.newsletter.locale)(pair_quotes([alt])[0]).replace('"', "”")


def _write(issues: Issues, settings: Settings, day: date, page: PageDraft, image: tuple[str, bytes] | None,
           by: Author) -> str:
    fields = {"title": page.title, "source": page.source, "url": page.url}
    if image is not None:
        fields["image"] = issues.add_image(day, image[0], image[1], by)
        fields["image_alt"] = _alt_text(settings, page.image_alt)
    fields["description"] = page.description
    return issues.add_drafted_item(day, fields, page.description, by, free=_free,
                                   limit=settings.newsletter.items_per_issue)


def _free_slots(issues: Issues, settings: Settings, day: date) -> int:
    folder = issues.folder(day)
    paths = [p for p in folder.glob("*.md") if p.is_file()]
    used = [p for p in paths if not _free(p.read_bytes())]
    return max(0, settings.newsletter.items_per_issue - len(used))


def draft(issues: Issues, settings: Settings, store: Store | None, day: date, urls: Sequence[str],
          feed: str | None, by: Author) -> Drafted:
    """Draft one item per link of ``urls``, or the newest entries of ``feed`` not used within
    ``[check] repeat_days`` (up to the free slots).

    :raises FetchRefused: for an address that is not fetched (nothing written).
    :raises FetchError: for a link that cannot be read (nothing written).
    :raises UsageError: with neither links nor a feed, or more links than free slots.
    """
    from newsletter.services.sourcing import read_page

    exists = issues.exists(day)
    slots = _free_slots(issues, settings, day) if exists else settings.newsletter.items_per_issue
    notes: list[Message] = []
    if feed:
        pages = _from_feed(settings, store, day, feed, slots, notes)
    elif urls:
        if len(urls) > slots:
            raise UsageError(N_("%(links)s for the issue of %(date)s, which has %(slots)s"),
                             hint=N_("draft fewer links, or remove an item first"),
                             values={"links": Count("%(num)d link", "%(num)d links", len(urls)),
                                     "date": day.isoformat(),
                                     "slots": Count("%(num)d free item slot", "%(num)d free item slots", slots)})
        pages = [read_page(url, settings.sourcing) for url in urls]  # all fetched before anything is written
    else:
        raise UsageError("give a link (--from URL) or a feed (--feed URL)")
    images = [_image(settings, page, notes) for page in pages]
    if pages and not exists:  # only now that every page was read: a failed draft leaves no folder behind
        from newsletter.services.scaffold import new_issue

        new_issue(settings.issues_dir, day, settings.newsletter.items_per_issue)
    files = [_write(issues, settings, day, page, image, by) for page, image in zip(pages, images)]
    for name in files:
        log.info("issue %s: drafted %s", day.isoformat(), name)
    return Drafted(files, notes)


def _from_feed(settings: Settings, store: Store | None, day: date, feed: str, slots: int,
               notes: list[Message]) -> list[PageDraft]:
    """The pages of the newest entries whose link went out in no issue within ``repeat_days`` (nor this one)."""
    from newsletter.content.load import issue_folder, load_issue
    from newsletter.content.repeats import normalized_url
    from newsletter.services.check import recent_issues
    from newsletter.services.sourcing import read_feed, read_page

    entries = read_feed(feed, settings.sourcing)
    folder_exists = issue_folder(settings.issues_dir, day).is_dir()
    current = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue).issue.items \
        if folder_exists else ()
    earlier = recent_issues(settings, day, store) if store is not None else []
    used = {normalized_url(item.url) for _, items in [(day, current), *earlier] for item in items} - {""}
    pages: list[PageDraft] = []
    for entry in entries:
        if len(pages) >= slots:
            break
        if normalized_url(entry.url) in used:
            continue
        try:
            page = read_page(entry.url, settings.sourcing)
        except FetchError as err:
            notes.append(Message(N_("%(url)s: skipped: %(reason)s"), {"url": entry.url, "reason": err}))
            continue
        if normalized_url(page.url) in used:
            continue
        used.add(normalized_url(page.url))
        pages.append(page)
    return pages
