"""The confirmation mails of the web service, written from templates and sent from one background thread.

A request only queues the address, whatever the address is (new, pending, active,
unsubscribed): the answer takes the same time in every case and tells nothing about who is
subscribed. The thread then decides whether a mail goes out (not to an active address) and
enforces the limit per address, so nobody can use the service to flood a mailbox.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Callable

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from newsletter.brand.look import web_brand
from newsletter.core.i18n import Words, environment
from newsletter.library import Newsletter
from newsletter.core.tokens import CONFIRM, make_timed_token
from newsletter.frontends.web.masks import mask

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")


class RateGate:
    """``"3 per hour; 5 per day"`` for each key, in memory (one process serves the site)."""

    def __init__(self, rule: str) -> None:
        self.items: list[RateLimitItem] = parse_many(rule)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, namespace: str, key: str) -> bool:
        """Count one use of ``key``; False (and nothing counted) once any window is full."""
        if not all(self.limiter.test(item, namespace, key) for item in self.items):
            return False
        for item in self.items:
            self.limiter.hit(item, namespace, key)
        return True


class MailQueue:
    """Addresses waiting for their confirmation mail; ``deliver`` runs for each, in a daemon thread."""

    def __init__(self, *, size: int = 1000, start: bool = True) -> None:
        self._jobs: queue.Queue[tuple[str, Callable[[str], None] | None]] = queue.Queue(maxsize=size)
        self._deliver: Callable[[str], None] | None = None
        self._thread: threading.Thread | None = None
        self._start = start

    def bind(self, deliver: Callable[[str], None]) -> None:
        """Set what to do with each address (the app does this); start the thread unless told not to."""
        self._deliver = deliver
        if self._start:
            self.start()

    def start(self) -> None:
        """Start the background thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="newsletter-mail", daemon=True)
            self._thread.start()

    def submit(self, address: str, job: Callable[[str], None] | None = None) -> None:
        """Queue ``address`` for ``job`` (by default what :meth:`bind` set); never blocks the request
        (a full queue drops it, with a warning)."""
        try:
            self._jobs.put_nowait((address, job))
        except queue.Full:
            log.warning("the confirmation queue is full; a request was dropped")

    def pending(self) -> int:
        """How many addresses wait for their mail."""
        return self._jobs.qsize()

    def join(self) -> None:
        """Wait until every queued address was handled (tests, and a clean stop)."""
        self._jobs.join()

    def _run(self) -> None:
        while True:
            address, job = self._jobs.get()
            try:
                deliver = job or self._deliver
                if deliver is not None:
                    deliver(address)
            except Exception:  # one failed mail must not stop the thread
                log.exception("a confirmation mail could not be handled")
            finally:
                self._jobs.task_done()


class ConfirmationMailer:
    """Queues confirmation requests and writes and sends each mail (text and HTML, in the project's language)."""

    def __init__(self, nl: Newsletter, secret_key: str, words: Words, *, mail_queue: MailQueue | None = None) -> None:
        self.nl, self.settings, self.secret_key, self.words = nl, nl.settings, secret_key, words
        self.queue = mail_queue or MailQueue()
        self.gate = RateGate(nl.settings.web.confirm_mail_limit)
        self.templates = environment(TEMPLATES, words)
        self.queue.bind(self.deliver)

    def submit(self, address: str) -> None:
        """Queue ``address`` for the background thread; never blocks the request."""
        self.queue.submit(address)

    def welcome(self, address: str) -> None:
        """Queue the welcome of ``address``, just confirmed (sent once ever: :meth:`Readers.welcome`)."""
        self.queue.submit(address, self._welcome)

    def _welcome(self, address: str) -> None:
        self.nl.readers.welcome(address)  # logs its own failure; never tried twice

    def compose(self, address: str) -> tuple[str, str, str]:
        """Subject, text and HTML of the confirmation mail for ``address`` (a fresh link)."""
        nl = self.settings.newsletter
        made = int(self.nl.clock().timestamp())  # the library's clock, which the confirmation reads it by
        link = f"{nl.base_url}/confirm/{make_timed_token(self.secret_key, CONFIRM, address, now=made)}"
        # No first name here: it is whatever a stranger typed, and this mail goes to any address.
        context = {"newsletter": nl, "brand": web_brand(self.settings), "link": link,
                   "hours": self.settings.web.confirm_hours}
        subject = self.words.gettext("Confirm your subscription to %(name)s", name=nl.name)
        text = self.templates.get_template("confirm_mail.txt").render(context)
        html = self.templates.get_template("confirm_mail.html").render(context)
        return subject, text, html

    def deliver(self, address: str) -> None:
        """The background thread's job: one confirmation mail, unless active already or over the limit."""
        if not self.nl.subscriptions.awaits_confirmation(address):
            return
        if not self.gate.allow("confirm-mail", address):
            log.warning("no confirmation mail for %s: [web] confirm_mail_limit reached", mask(address))
            return
        subject, text, html = self.compose(address)
        error = self.nl.subscriptions.mail(address, subject, text, html=html)
        if error:
            log.error("the confirmation for %s could not be sent: %s", mask(address), error)
