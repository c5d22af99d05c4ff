"""Corrections after the send (``nl.corrections``): publish the issue's current files as the corrected
version of a sent issue, with a note and what changed in words, and tell its readers once.

The archive keeps what was sent (:mod:`newsletter.store.archive`) and shows the newest version with
every correction listed in order (:mod:`newsletter.store.corrections`). With ``mail``, a short message
goes to each reader the issue reached who is still subscribed, through the correction mail's own
ledger (:mod:`newsletter.services.correction_mail`); running the same correction again, after a crash or a
stop, finishes that mail and sends nobody a second one.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from newsletter.errors import N_, ContentError, CorrectionRefused
from newsletter.library.project import Project

if TYPE_CHECKING:
    from newsletter.core.i18n import Words
    from newsletter.services.correction_mail import MailReport
    from newsletter.render.rendered import PublicPage
    from newsletter.render.web_version import WebVersion
    from newsletter.store.archive import Publication
    from newsletter.store.corrections import Correction

log = logging.getLogger(__name__)

#: The longest note, in characters: a sentence or two that the archive, the feed and the mail show.
NOTE_CHARS = 280
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CorrectionView:
    """A correction as the archive, the desk and ``status`` show it (``changes`` already in words)."""

    number: int
    note: str
    at: datetime
    author: str
    changes: list[str]
    mail: bool  #: its readers were to be told
    mail_counts: dict[str, int]  #: the correction mail's rows by status (empty without a mail)


@dataclass(frozen=True)
class CorrectionPlan:
    """What ``correct`` would do now: the changes since the version the archive shows, in words, and how
    many readers a mail would reach. ``refusal`` says why it cannot (None: it can)."""

    day: date
    changes: list[str]
    readers: int
    resumes: int  #: the number of the correction whose mail a run would finish (0: a new correction)
    refusal: CorrectionRefused | ContentError | None


@dataclass(frozen=True)
class CorrectionOutcome:
    """What ``correct`` did: the correction published (or resumed) and its mail's report, if one was asked."""

    day: date
    correction: CorrectionView
    url: str
    mail: "MailReport | None"
    resumed: bool  #: nothing new was published: the mail of an existing correction went on


def clean_note(note: str) -> str:
    """The note as it is kept: plain text on one line, at most :data:`NOTE_CHARS` characters.

    :raises CorrectionRefused: when it is empty or too long.
    """
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", note or "")).split())
    if not text:
        raise CorrectionRefused(N_("a correction needs a note saying what was corrected"),
                                hint=N_("add --note \"…\", e.g. --note \"Le chiffre de l’info 3 était faux.\""))
    if len(text) > NOTE_CHARS:
        raise CorrectionRefused(N_("the note has %(chars)d characters; a correction note holds at most %(limit)d"),
                                hint=N_("say in a sentence what was corrected; the page shows the details"),
                                values={"chars": len(text), "limit": NOTE_CHARS})
    return text


class Corrections:
    """Corrections of sent issues (``nl.corrections``)."""

    def __init__(self, newsletter: Project) -> None:
        self._nl = newsletter

    #: The note as it is kept (the desk checks it before its confirmation page).
    clean_note = staticmethod(clean_note)

    # -- reading ---------------------------------------------------------------------------------

    def of(self, day: date, spoken: "Words | None" = None) -> list[CorrectionView]:
        """The issue's corrections, oldest first, their changes said in ``spoken``'s language (default:
        the newsletter's)."""
        from newsletter.store.archive import publication
        from newsletter.store.corrections import corrections

        store = self._nl.existing_store()
        sent = publication(store, day) if store is not None else None
        if store is None or sent is None:
            return []
        return [self._view(c, spoken) for c in corrections(store, sent.send_id)]

    def counted(self, days: list[date]) -> dict[date, int]:
        """How many corrections each of ``days``'s issues has (those without are left out)."""
        from newsletter.store.archive import publication
        from newsletter.store.corrections import latest_by_send

        store = self._nl.existing_store()
        if store is None:
            return {}
        sends = {day: sent.send_id for day in days if (sent := publication(store, day)) is not None}
        latest = latest_by_send(store, sends.values())
        return {day: latest[send].number for day, send in sends.items() if send in latest}

    def plan(self, day: date, *, mail: bool = False) -> CorrectionPlan:
        """What :meth:`publish` would do now (the desk's confirmation), without doing anything."""
        try:
            sent, version, page, last = self._prepare(day)
        except (CorrectionRefused, ContentError) as err:
            return CorrectionPlan(day, [], 0, 0, err)
        from newsletter.store.corrections import unfinished

        store = self._nl.store
        if last is None and sent.page == page.digest:
            return CorrectionPlan(day, [], 0, 0, self._unchanged(day, None))
        if last is not None and last.digest == page.digest:
            if mail and (not last.mail or unfinished(store, last.id)):
                return CorrectionPlan(day, self._view(last).changes, self._readers(sent.send_id), last.number, None)
            return CorrectionPlan(day, [], 0, 0, self._unchanged(day, last))
        return CorrectionPlan(day, self._describe(self._changes(version, page, sent, last)),
                              self._readers(sent.send_id) if mail else 0, 0, None)

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, day: date, note: str, *, mail: bool = False, by: str = "") -> CorrectionOutcome:
        """Publish the issue's current files as the corrected version of its sent page, with ``note``.

        With ``mail``, tell each reader the issue reached, once (a second run finishes the mail left
        unfinished by the first and sends nobody twice).

        :param by: who corrects; default ``$NEWSLETTER_EDITOR``, else the login name.

        :raises CorrectionRefused: when the issue was never sent, the note is empty or too long, or the
            files are those of the version the archive shows already (and no mail is left to send).
        :raises ContentError: (with ``problems``) when the files do not pass ``check``.
        """
        from newsletter.content.publication import web_url
        from newsletter.store import corrections

        from newsletter.content.typography import typographer
        from newsletter.library.composing import EDITOR_ENV
        from newsletter.library.inputs import login_name

        # Set like the issue's own text: the archive, the feed and the mail show it as kept.
        text = typographer(self._nl.settings.newsletter.locale)(clean_note(note))
        by = by or self._nl.environ.get(EDITOR_ENV) or login_name(self._nl.environ)
        sent, version, page, last = self._prepare(day)
        store, now = self._nl.store, self._nl.clock()
        url = web_url(self._nl.settings.newsletter.base_url, day)
        if last is None and sent.page == page.digest:
            raise self._unchanged(day, None)
        if last is not None and last.digest == page.digest:  # nothing new: maybe a mail to send or finish
            if not mail or (last.mail and not corrections.unfinished(store, last.id)
                            and not corrections.enqueue(store, last.id, sent.send_id, now)):
                raise self._unchanged(day, last)
            if not last.mail:
                corrections.want_mail(store, last.id)
            corrections.enqueue(store, last.id, sent.send_id, now)  # none when a run added them already
            mailed = self._mail(day, last)
            return CorrectionOutcome(day, self._view(self._reread(sent, last.number)), url, mailed, True)
        changes = self._changes(version, page, sent, last)
        added = corrections.add(store, sent.send_id, page, note=text, changes=changes, author=by, mail=mail, now=now)
        log.info("issue %s: correction %d published: %s", day.isoformat(), added.number, text)
        report: "MailReport | None" = None
        if mail:
            corrections.enqueue(store, added.id, sent.send_id, now)
            report = self._mail(day, added)
        return CorrectionOutcome(day, self._view(self._reread(sent, added.number)), url, report, False)

    # -- the parts -------------------------------------------------------------------------------

    def _prepare(self, day: date) -> tuple["Publication", "WebVersion | None", "PublicPage", "Correction | None"]:
        """The send, the version the archive shows now, the page of the files, the last correction."""
        from newsletter.render.web_version import public_page
        from newsletter.services.check import check_issue
        from newsletter.store.archive import page_layout, publication
        from newsletter.store.corrections import corrections, layout

        settings = self._nl.settings
        store = self._nl.existing_store()
        sent = publication(store, day) if store is not None else None
        if store is None or sent is None:
            raise CorrectionRefused(
                N_("issue %(day)s was not sent; only a sent issue can be corrected"),
                hint=N_("before its send, edit the files: the send takes them as they are then"),
                values={"day": day.isoformat()})
        report = check_issue(settings, day, store=store)
        if not report.ok:
            raise ContentError(N_("issue %(day)s does not pass the check; its correction cannot be published"),
                               report.problems, hint=N_("fix the lines above, then correct again"),
                               values={"day": day.isoformat()})
        page = public_page(report.issue, settings)
        done = corrections(store, sent.send_id)
        last = done[-1] if done else None
        shown = layout(store, sent.send_id, last.number) if last is not None else page_layout(store, sent.send_id)
        # None: sent before pages were kept (migration 0013), what its readers got is not known.
        version = self._thawed(shown) if shown is not None else None
        return sent, version, page, last

    @staticmethod
    def _thawed(layout: str) -> "WebVersion | None":
        from newsletter.errors import NewsletterError
        from newsletter.render.web_version import thaw

        try:
            return thaw(layout)
        except NewsletterError:  # frozen by another version of newsletter: its changes cannot be said
            return None

    def _changes(self, version: "WebVersion | None", page: "PublicPage", sent: "Publication",
                 last: "Correction | None") -> list[dict[str, object]]:
        from newsletter.render.web_version import thaw
        from newsletter.services.corrections import compare
        from newsletter.store.corrections import sent_subject

        if version is None:
            return []
        before = last.subject if last is not None else sent_subject(self._nl.store, sent.send_id)
        return compare(version, before, thaw(page.layout), page.subject)

    def _unchanged(self, day: date, last: "Correction | None") -> CorrectionRefused:
        if last is not None and last.mail:
            return CorrectionRefused(
                N_("issue %(day)s: the files are those of correction %(number)d, whose readers were told already"),
                hint=N_("edit the files first (`newsletter check %(day)s` checks them), then publish the correction"),
                values={"day": day.isoformat(), "number": last.number})
        return CorrectionRefused(
            N_("issue %(day)s: the files are those of the version the archive shows already; nothing to correct"),
            hint=N_("edit the files first (`newsletter check %(day)s` checks them), then publish the correction"),
            values={"day": day.isoformat()})

    def _readers(self, send_id: int) -> int:
        from newsletter.store.corrections import readers

        return readers(self._nl.store, send_id)

    def _mail(self, day: date, correction: "Correction") -> "MailReport":
        from newsletter.content.load import load_issue
        from newsletter.content.publication import web_url
        from newsletter.services.correction_mail import send_correction_mail
        from newsletter.render.correction import render_correction
        from newsletter.render.mime import MessageFactory

        nl, settings = self._nl, self._nl.settings
        spoken = self._words()
        issue = load_issue(settings.issues_dir, day, settings.newsletter.items_per_issue).issue
        rendered = render_correction(settings, issue, issue_subject=correction.subject, day=spoken.day(day),
                                     note=correction.note, changes=self._describe(correction.changes, spoken),
                                     page_url=web_url(settings.newsletter.base_url, day))
        factory = MessageFactory(rendered, settings, secret_key=nl.secret_key().value, date=nl.clock(),
                                 issue_key=f"{day.isoformat()}.correction{correction.number}")
        report = send_correction_mail(settings, nl.store, correction.id, factory, clock=nl.clock, environ=nl.environ)
        log.info("issue %s: correction %d mailed: %s", day.isoformat(), correction.number, report.counts)
        return report

    def _reread(self, sent: "Publication", number: int) -> "Correction":
        from newsletter.store.corrections import corrections

        return next(c for c in corrections(self._nl.store, sent.send_id) if c.number == number)

    def _words(self) -> "Words":
        from newsletter.core.i18n import words

        return words(self._nl.settings.newsletter.locale)

    def _describe(self, changes: list[dict[str, object]], spoken: "Words | None" = None) -> list[str]:
        from newsletter.services.corrections import describe

        return describe(changes, spoken or self._words())

    def _view(self, correction: "Correction", spoken: "Words | None" = None) -> CorrectionView:
        from newsletter.store.corrections import mail_counts

        counts = mail_counts(self._nl.store, correction.id) if correction.mail else {}
        return CorrectionView(correction.number, correction.note, correction.created_at, correction.author,
                              self._describe(correction.changes, spoken), correction.mail, counts)
