"""What a render of an issue produces: the master documents and their merge slots.

Apart from the pipeline that makes them (:mod:`newsletter.render.pipeline`, which loads jinja2, MJML
and premailer), so that what only reads a render (a send started from the checked render, a worker
thawing a snapshot, building messages) never loads the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from newsletter.core.merge import CompiledTemplate, MergeSlots

if TYPE_CHECKING:  # types only: building messages from a render loads neither the issue's reader nor its files'
    from newsletter.content.model import Issue
    from newsletter.content.problems import Problem
    from newsletter.content.publication import Image


@dataclass
class RenderedIssue:
    """The master documents of one issue, ready for per-recipient substitution."""

    issue: Issue
    subject: str
    preheader: str
    html: str
    text: str
    slots: MergeSlots
    web_url: str
    item_words: list[int] = field(default_factory=list)
    item_texts: list[str] = field(default_factory=list)  # each item's body as plain text (the feed)
    problems: list[Problem] = field(default_factory=list)
    #: The content links by position (0: the intro, then each item: its own URL first), what a send counts.
    links: list[tuple[str, ...]] = field(default_factory=list)
    #: Each item's title and tag, as the reports name it.
    item_labels: list[tuple[str, str]] = field(default_factory=list)

    @cached_property
    def html_template(self) -> CompiledTemplate:
        return CompiledTemplate(self.html, self.slots)

    @cached_property
    def text_template(self) -> CompiledTemplate:
        return CompiledTemplate(self.text, self.slots)

    def personalize(self, values: dict[str, str]) -> tuple[str, str]:
        """The HTML and text bodies for one recipient (``values``: field → raw value)."""
        return self.html_template.render(values), self.text_template.render(values)


@dataclass(frozen=True)
class PublicPage:
    """A web version as published: its subject, the page as JSON (:func:`newsletter.render.web_version.thaw`) and its digest, and
    the image files it shows (``relative`` is ``brand/NAME`` for the logo)."""

    subject: str
    layout: str
    digest: str
    images: tuple[Image, ...]
