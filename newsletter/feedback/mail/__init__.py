"""Bounces, complaints and unsubscribe requests that come back by mail (SMTP and outbox transports).

:mod:`~newsletter.feedback.mail.mailboxes` reads a Maildir, an IMAP folder or one message on stdin;
:mod:`~newsletter.feedback.mail.classify` says what each message means, attributed by our own sealed
VERP or mailto token (:mod:`newsletter.core.verp`), with the reason of each bounce in the industry's words
(:mod:`~newsletter.feedback.mail.reasons`); :mod:`~newsletter.feedback.mail.process` records it in
the store and sets the message aside once that is committed.
"""
