"""The public archive (``nl.archive``): sent issues, their web versions, the Atom feed, the images
and the logo, as the web service shows them. Nothing here knows Flask.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from newsletter.errors import NewsletterError
from newsletter.library.project import Project

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from newsletter.content.publication import Image, ImageIndex
    from newsletter.render.web_version import WebVersion
    from newsletter.services.archive import PublishedPages, WebVersions
    from newsletter.store.archive import Published


class Archive:
    """The public archive (``nl.archive``): sent issues, their web versions, the feed and the images.

    A sent issue shows the page its send published and the image bytes it was sent with, whatever
    its files say now (:mod:`newsletter.store.archive`); before the send, the proofreaders' page is
    rendered from the files, and kept until one of them changes.
    """

    def __init__(self, newsletter: Project) -> None:
        from newsletter.content.publication import ImageIndex
        from newsletter.services.archive import PublishedPages, WebVersions

        self._nl = newsletter
        self._versions: "WebVersions" = WebVersions(newsletter.settings)
        self._pages: "PublishedPages" = PublishedPages(newsletter.settings)
        self._images: "ImageIndex" = ImageIndex()

    def published(self, limit: int = 500) -> list["Published"]:
        """Sent issues, newest first (an issue counts once at least one message went out), each under
        the subject of its newest version. An issue sent before its date (tomorrow's, by hand) waits for
        its date in the newsletter's time zone: the archive and the feed do not list it before, though its
        page answers the readers' link."""
        from dataclasses import replace

        from newsletter.store.archive import published
        from newsletter.store.corrections import latest_by_send

        issues = published(self._nl.store, limit=limit, until=self._nl.today())
        corrected = latest_by_send(self._nl.store, [i.send_id for i in issues])
        return [replace(i, subject=corrected[i.send_id].subject) if i.send_id in corrected else i for i in issues]

    def is_published(self, day: date) -> bool:
        from newsletter.store.archive import publication

        return publication(self._nl.store, day) is not None

    def web_page(self, day: date, *, as_sent: bool = False) -> str | None:
        """The issue as a public web page, or None when there is none: its newest corrected version
        (:mod:`newsletter.library.corrections`), else the page its send published; ``as_sent``: the page
        its send published, whatever the corrections since."""
        from newsletter.store.archive import publication
        from newsletter.store.corrections import latest_by_send

        store = self._nl.store
        sent = publication(store, day)
        if sent is None:
            return None if as_sent else (version.html if (version := self._versions.version(day)) else None)
        if as_sent and not sent.page:  # sent before pages were kept: what readers got is not known
            return None
        corrected = None if as_sent else latest_by_send(store, [sent.send_id]).get(sent.send_id)
        if corrected is not None:
            try:
                return self._pages.corrected(store, sent.send_id, corrected.number, corrected.digest).html
            except NewsletterError as err:  # stored by another version: the page sent, with the notice
                log.error("issue %s: correction %d cannot be shown: %s", day.isoformat(), corrected.number, err)
        version = self._pages.version(store, day, sent, self._nl.clock())
        return version.html if version else None

    def feed(self, limit: int = 50) -> bytes:
        """The Atom feed of the last ``limit`` sent issues, each with the items of its newest page and,
        for a corrected issue, the note of its last correction (its entry updated then)."""
        from newsletter.core.i18n import words
        from newsletter.services.archive import atom_feed
        from newsletter.store.archive import Publication
        from newsletter.store.corrections import latest_by_send

        nl = self._nl
        issues = self.published(limit=limit)
        corrected = latest_by_send(nl.store, [i.send_id for i in issues])

        def version(issue: "Published") -> "WebVersion | None":
            last = corrected.get(issue.send_id)
            if last is not None:
                return self._pages.corrected(nl.store, issue.send_id, last.number, last.digest)
            return self._pages.version(nl.store, issue.day, Publication(issue.send_id, issue.page), nl.clock())

        return atom_feed(nl.settings, issues, version, corrected, words(nl.settings.newsletter.locale))

    def is_proof_key(self, day: date, key: str) -> bool:
        """Whether ``key`` opens the web version of ``day`` before its send (the test copies' link)."""
        from newsletter.content.publication import is_proof_key

        return bool(key) and is_proof_key(self._nl.secret_key().value, day, key)

    def image(self, day: date, relative: str) -> Image | None:
        """An image of the issue by its path: the bytes its send published, else the file of the issue
        folder (never a link, never anything but an image)."""
        from newsletter.content.load import issue_folder
        from newsletter.content.publication import UnsafeFileError, read_image
        from newsletter.store.archive import image

        kept = image(self._nl.store, day, relative=relative)
        if kept is not None:
            return kept
        try:
            return read_image(issue_folder(self._nl.settings.issues_dir, day), relative)
        except UnsafeFileError:
            return None

    def hashed_image(self, day: date, name: str) -> Image | None:
        """The image of the issue whose content-hashed name is ``name``: the bytes a send published, else
        a file of the issue folder read and checked now."""
        from newsletter.content.load import issue_folder
        from newsletter.store.archive import image

        from newsletter.store.corrections import image as corrected_image

        kept = image(self._nl.store, day, name=name) or corrected_image(self._nl.store, day, name)
        return kept if kept is not None else self._images.find(issue_folder(self._nl.settings.issues_dir, day), name)

    def logo(self) -> Image | None:
        """The ``[brand]`` logo as it is now (its content-hashed name for the pages' header), or None."""
        from newsletter.content.publication import UnsafeFileError, read_image

        brand = self._nl.settings.brand
        if not brand or not brand.logo:
            return None
        try:
            return read_image(self._nl.settings.root, brand.logo)
        except UnsafeFileError:
            return None

    def hashed_logo(self, name: str) -> Image | None:
        """The logo whose content-hashed name is ``name``. Sent emails name the logo of their day, so an
        earlier logo kept beside the current one (brand/logo-2025.png) is still answered; a logo at the
        project's top level is answered alone (the project folder is never searched). A logo a send
        published is answered from the store, whatever the brand's files say now."""
        from newsletter.render.pipeline import LOGO_FOLDER
        from newsletter.store.archive import logo

        kept = logo(self._nl.store, LOGO_FOLDER + name)
        if kept is not None:
            return kept
        settings = self._nl.settings
        if not settings.brand or not settings.brand.logo:
            return None
        folder = (settings.root / settings.brand.logo).parent
        image = self._images.find(folder, name) if folder != settings.root else self.logo()
        return image if image is not None and image.name == name else None
