"""Bounces, complaints and unsubscribe requests that come back by mail (SMTP and outbox transports).

:mod:`~newsletter.bounces.mailboxes` reads a Maildir, an IMAP folder or one message on stdin;
:mod:`~newsletter.bounces.classify` says what each message means, attributed by our own sealed
VERP or mailto token (:mod:`newsletter.verp`), with the reason of each bounce in the industry's words
(:mod:`~newsletter.bounces.reasons`); :mod:`~newsletter.bounces.process` records it in
the store and sets the message aside once that is committed.
"""
