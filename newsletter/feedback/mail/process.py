"""Read a mailbox of returned mail and record what each message means, then set it aside.

The order is what keeps nothing lost: a message is classified, its event recorded and
committed (:func:`newsletter.store.feedback.record_feedback`, idempotent on the message), and only
then moved to the processed folder. A crash in between leaves the message where it was; the
next run reads it again and finds its event already recorded (a duplicate, changing nothing).
"""

from __future__ import annotations

import email
import logging
import ssl
from dataclasses import dataclass
from datetime import datetime
from email import policy
from typing import Callable, Mapping

from newsletter.feedback.mail.classify import classify
from newsletter.feedback.mail.mailboxes import Mailbox, MaildirBox, OneMessage, open_mailbox
from newsletter.config import BounceSettings, Settings
from newsletter.errors import ConfigError, NewsletterError
from newsletter.store.database import Store
from newsletter.core.i18n import Count
from newsletter.core.tokens import ERASED, keyed_digest
from newsletter.store.feedback import FeedbackKind, FeedbackResult, editions_sent, record_feedback

log = logging.getLogger(__name__)


@dataclass
class Counts:
    """What one run did, message by message."""

    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    duplicates: int = 0
    unmatched: int = 0  # a genuine token whose subscriber is no longer in the store: nothing to change
    left: int = 0  # not understood or naming nobody: left in place for a human
    kept: int = 0  # of those, piped ones delivered into the Maildir for a human

    def summary(self) -> str:
        """"2 hard bounces, 1 soft bounce, …" in English (the log's words)."""
        return ", ".join(str(part) for part in self.parts())

    def parts(self) -> list[Count]:
        """The figures of :meth:`summary`, each said with its plural form in the reader's language."""
        parts = [Count("%(num)d hard bounce", "%(num)d hard bounces", self.hard),
                 Count("%(num)d soft bounce", "%(num)d soft bounces", self.soft),
                 Count("%(num)d complaint", "%(num)d complaints", self.complaints),
                 Count("%(num)d unsubscribe", "%(num)d unsubscribes", self.unsubscribes),
                 Count("%(num)d duplicate", "%(num)d duplicates", self.duplicates)]
        if self.unmatched:
            parts.append(Count("%(num)d for a subscriber no longer in the store",
                               "%(num)d for subscribers no longer in the store", self.unmatched))
        parts.append(Count("%(num)d left for a human (in the Maildir)", "%(num)d left for a human (in the Maildir)",
                           self.left) if self.kept else
                     Count("%(num)d left for a human", "%(num)d left for a human", self.left))
        return parts


_FIELD = {FeedbackKind.HARD_BOUNCE: "hard", FeedbackKind.SOFT_BOUNCE: "soft",
          FeedbackKind.COMPLAINT: "complaints", FeedbackKind.UNSUBSCRIBE: "unsubscribes"}


def process_mailbox(store: Store, settings: BounceSettings, mailbox: Mailbox, *, secret_key: str,
                    now: datetime) -> Counts:
    """Classify, record and set aside every message of ``mailbox``.

    :raises StoreError: when the store cannot record an event (that message and the rest stay in place).
    :raises MailboxError: when the mailbox cannot be read or a message cannot be moved aside.
    """
    counts = Counts()
    for key, raw in mailbox.messages():
        if not raw:
            counts.left += 1
            continue
        msg = email.message_from_bytes(raw, policy=policy.compat32)
        verdict = classify(msg, raw, settings, secret_key, now=now, editions=lambda day: editions_sent(store, day))
        if verdict.feedback is None:
            log.info("bounces: message %s left for a human: %s", key, verdict.reason)
            counts.left += 1
            continue
        event = verdict.feedback
        outcome = record_feedback(store, event, now=now, soft_bounce_limit=settings.soft_bounce_limit,
                                  soft_bounce_days=settings.soft_bounce_days,
                                  erased_digest=lambda address: keyed_digest(secret_key, ERASED, address))
        result = outcome.result
        if result is FeedbackResult.DUPLICATE:
            counts.duplicates += 1
        elif result is FeedbackResult.UNMATCHED:
            counts.unmatched += 1
        else:
            setattr(counts, _FIELD[event.kind], getattr(counts, _FIELD[event.kind]) + 1)
        log.info("bounces: message %s: %s of subscriber %s (issue %s): %s%s", key, event.kind.value,
                 event.subscriber_id, event.issue, result.value,
                 f", now {outcome.new_status}" if outcome.new_status else "")
        mailbox.processed(key)
    return counts


def read_configured(settings: Settings, store: Store, *, secret_key: str, now: datetime, message: bytes | None = None,
                    environ: Mapping[str, str] | None = None, ssl_context: ssl.SSLContext | None = None) -> Counts:
    """Process ``[bounces]``' mailbox, or the one ``message`` given (stdin of a pipe transport).

    A piped message that is left for a human is delivered into the Maildir when one is configured,
    since a pipe has no place to leave it.

    :raises ConfigError: when [bounces] is absent or names no mailbox (and no message is given).
    """
    bounces = settings.bounces
    if bounces is None:
        raise ConfigError("newsletter.toml has no [bounces] table, so nothing comes back by mail to be read",
                          hint='add [bounces] with address = "bounces@bounce.example.org" and a maildir or '
                               "imap_host (see docs/bounces.md, 'Bounces, complaints and unsubscribes by mail')")
    mailbox: Mailbox = OneMessage(message) if message is not None else \
        open_mailbox(bounces, environ=environ, ssl_context=ssl_context)
    try:
        counts = process_mailbox(store, bounces, mailbox, secret_key=secret_key, now=now)
    finally:
        mailbox.close()
    if message is not None and counts.left and bounces.maildir is not None:
        MaildirBox(bounces.maildir, bounces.processed_folder).deliver(message)
        counts.kept = counts.left
    return counts


def scheduled_read(settings: Settings, store: Store, secret_key: str, clock: Callable[[], datetime]) -> None:
    """The scheduler's job: read the mailbox, log the counts; a failure is logged and tried next time."""
    try:
        counts = read_configured(settings, store, secret_key=secret_key, now=clock())
    except NewsletterError as err:
        log.error("bounces: the mailbox could not be read: %s%s", err, f" ({err.hint})" if err.hint else "")
        return
    log.info("bounces: %s", counts.summary())
