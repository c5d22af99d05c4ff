"""What a send was started with, frozen so that any worker builds the very same messages.

The run that starts a send (``newsletter send``, the scheduler) checked and rendered the issue; it
stores that render (subject, preheader, the HTML and text masters, their merge slots) and the
``Date`` header of the send. A worker on another host thaws it instead of rendering the issue's
files itself: it needs neither the files nor the same templates, and its messages are byte for
byte those of the starting run. The digest names the snapshot (``status``, logs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from newsletter.content.model import Issue
from newsletter.core.issue_id import IssueId
from newsletter.errors import NewsletterError
from newsletter.core.merge import Context, MergeSlots, Slot
from newsletter.render.rendered import RenderedIssue

#: Bumped when the snapshot's fields change: a worker refuses one it cannot read.
VERSION = 1


@dataclass(frozen=True)
class Frozen:
    """A send's render as stored: the JSON text and its digest."""

    text: str
    digest: str


def freeze(rendered: RenderedIssue, sent_on: datetime) -> Frozen:
    """The render of a send and its ``Date`` header, as JSON (keys sorted: one render, one digest)."""
    body = {
        "version": VERSION, "issue_date": rendered.issue.date.isoformat(), "subject": rendered.subject,
        "preheader": rendered.preheader, "html": rendered.html, "text": rendered.text,
        "web_url": rendered.web_url, "date": sent_on.isoformat(),
        "slots": [[s.field, s.context.value, s.default] for s in rendered.slots.slots],
        # What counted links need (a render checked before the send is tracked at the send's start).
        "links": [list(urls) for urls in rendered.links], "item_labels": [list(p) for p in rendered.item_labels],
    }
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return Frozen(text, hashlib.sha256(text.encode()).hexdigest())


def thaw(text: str) -> tuple[RenderedIssue, datetime]:
    """The render and ``Date`` header stored by :func:`freeze`.

    :raises NewsletterError: when the snapshot comes from another version of newsletter.
    """
    body = json.loads(text)
    if body.get("version") != VERSION:
        raise NewsletterError(f"the send was started by another version of newsletter (snapshot version "
                              f"{body.get('version')!r}, this one reads {VERSION}); this worker does not help it",
                              hint="run the same newsletter version on every worker host")
    slots = MergeSlots()
    for field_name, context, default in body["slots"]:
        slots.token(field_name, Context(context), default)
    if [Slot(f, Context(c), d) for f, c, d in body["slots"]] != slots.slots:
        raise NewsletterError("the send's stored render repeats a merge slot; this worker does not help it")
    day = IssueId.parse(body["issue_date"])
    issue = Issue(date=day, folder=Path(), subject=body["subject"], preheader=body["preheader"], intro="",
                  intro_line=0, items=())
    rendered = RenderedIssue(issue=issue, subject=body["subject"], preheader=body["preheader"], html=body["html"],
                             text=body["text"], slots=slots, web_url=body["web_url"],
                             links=[tuple(urls) for urls in body.get("links", [])],
                             item_labels=[(title, tag) for title, tag in body.get("item_labels", [])])
    return rendered, datetime.fromisoformat(body["date"])
