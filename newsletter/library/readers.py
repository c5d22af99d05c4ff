"""What readers choose and what they are owed (``nl.readers``): their preferences page's token, their
frequency and pause, their welcome (once), the download of their data and its erasure.

The web service's ``/p/TOKEN`` page, the command line (``subscribers erase``) and the HTTP API call
these and nothing below. Addresses are canonical; times come from the newsletter's clock. An erased
address is remembered only as a keyed hash (:func:`~newsletter.core.tokens.keyed_digest`, purpose
``erased``): imports, ``add`` and the API refuse it, and only a fresh double opt-in through the
form lifts it (:meth:`Readers.readmit`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from newsletter.errors import N_, PreferenceError, ReaderNotFoundError
from newsletter.library.project import Project

if TYPE_CHECKING:
    from newsletter.store.readers import Skipped

log = logging.getLogger(__name__)

#: The frequencies a reader may choose.
FREQUENCIES = ("daily", "weekly")
#: The pauses offered, in weeks: a reader pauses for one of these, and the issues resume by themselves.
PAUSE_WEEKS = (1, 2, 4)
#: How long the confirming step of an erasure stays valid (seconds).
ERASE_SECONDS = 30 * 60


@dataclass(frozen=True)
class ReaderPreferences:
    """What a reader chose, as the store holds it now."""

    email: str
    status: str
    frequency: str
    paused_until: datetime | None  #: None, or a time already past: not paused

    def paused(self, now: datetime) -> bool:
        """Whether the reader is paused at ``now``."""
        return self.paused_until is not None and self.paused_until > now


@dataclass(frozen=True)
class WelcomeOutcome:
    """What :meth:`Readers.welcome` did: ``sent``, ``already`` (claimed before: never twice), ``inactive``
    (not an active subscriber) or ``failed`` (with ``error``; it is not tried again)."""

    state: str
    error: str = ""


class Readers:
    """The readers' own choices and rights (``nl.readers``)."""

    def __init__(self, newsletter: Project) -> None:
        self._nl = newsletter

    # -- tokens ----------------------------------------------------------------------------------

    def preferences_url(self, address: str) -> str:
        """``{base_url}/p/TOKEN``: the reader's page (frequency, pause, data, erasure)."""
        from newsletter.render.mime import preferences_url

        return preferences_url(self._nl.settings, self._nl.secret_key().value, address)

    def address_of_preferences(self, token: str) -> str | None:
        """The address a preferences token names, or None when it is forged, altered or made for another purpose."""
        from newsletter.core.tokens import PREFERENCES, read_token

        if "." in token:  # preferences tokens were never made in the old signed format
            return None
        return read_token(self._nl.secret_key().value, PREFERENCES, token)

    def erasure_token(self, address: str) -> str:
        """The short-lived token of an erasure's confirming step (valid :data:`ERASE_SECONDS`)."""
        from newsletter.core.tokens import ERASE, make_timed_token

        return make_timed_token(self._nl.secret_key().value, ERASE, address, now=int(self._nl.clock().timestamp()))

    def address_of_erasure(self, token: str) -> tuple[str | None, str]:
        """``(address, "")`` for a valid erasure token, else ``(None, "expired" | "invalid")``."""
        from newsletter.core.tokens import ERASE, read_dated_token

        payload, _issued, problem = read_dated_token(self._nl.secret_key().value, ERASE, token, max_age=ERASE_SECONDS,
                                                     now=self._nl.clock().timestamp())
        if problem or not isinstance(payload, str) or "." in token:
            return None, problem or "invalid"
        return payload, ""

    # -- preferences -----------------------------------------------------------------------------

    def preferences(self, address: str) -> ReaderPreferences | None:
        """What the reader ``address`` chose, or None when they are not in the list."""
        from newsletter.store.subscribers import find_subscriber

        person = find_subscriber(self._nl.reading_store(), address)
        if person is None:
            return None
        return ReaderPreferences(person.email, person.status, person.frequency, person.paused_until)

    def _changed(self, address: str, **change: Any) -> ReaderPreferences:
        from newsletter.store.readers import set_preferences

        if not set_preferences(self._nl.store, address, now=self._nl.clock(), **change):
            raise ReaderNotFoundError(N_("%(address)s is not in the subscriber list"), values={"address": address})
        found = self.preferences(address)
        assert found is not None
        return found

    def set_frequency(self, address: str, frequency: str) -> ReaderPreferences:
        """Receive every issue (``daily``) or only the weekly roundup (``weekly``).

        :raises PreferenceError: for another frequency.
        :raises ReaderNotFoundError: when the address is not in the list.
        """
        if frequency not in FREQUENCIES:
            raise PreferenceError(f"frequency {frequency!r} is not offered; choose {' or '.join(FREQUENCIES)}")
        return self._changed(address, frequency=frequency)

    def pause(self, address: str, weeks: int) -> ReaderPreferences:
        """Receive nothing for ``weeks`` weeks (1, 2 or 4) from now; the issues resume by themselves.

        :raises PreferenceError: for another length.
        :raises ReaderNotFoundError: when the address is not in the list.
        """
        if weeks not in PAUSE_WEEKS:
            raise PreferenceError(f"a pause of {weeks} weeks is not offered; choose 1, 2 or 4 weeks")
        return self._changed(address, paused_until=self._nl.clock() + timedelta(weeks=weeks))

    def resume(self, address: str) -> ReaderPreferences:
        """End a pause now.

        :raises ReaderNotFoundError: when the address is not in the list.
        """
        return self._changed(address, resume=True)

    def skipped(self) -> "Skipped":
        """How many active readers a daily issue sent now leaves out: weekly ones, paused ones."""
        from newsletter.store.readers import skipped_readers

        return skipped_readers(self._nl.reading_store(), self._nl.clock())

    # -- the welcome -----------------------------------------------------------------------------

    def welcome(self, address: str) -> WelcomeOutcome:
        """Send the welcome to the active subscriber ``address``, once ever (the welcome ledger claims it
        before the transport takes it: a second call, or a call after a crash mid-send, sends nothing).

        :raises RenderError: when the project's welcome template is broken (nothing is claimed then).
        """
        from newsletter.content.publication import web_url
        from newsletter.render.mime import unsubscribe_url
        from newsletter.render.welcome import render_welcome
        from newsletter.schedule.due import next_runs
        from newsletter.services.notify import send_notice
        from newsletter.store.archive import published as latest_published
        from newsletter.store.readers import claim_welcome, settle_welcome
        from newsletter.store.subscribers import find_subscriber

        nl = self._nl
        person = find_subscriber(nl.store, address)
        if person is None or person.status != "active":
            return WelcomeOutcome("inactive")
        published = latest_published(nl.store, limit=1)
        latest = web_url(nl.settings.newsletter.base_url, published[0].day) if published else ""
        now = nl.clock()
        welcome = render_welcome(
            nl.settings, first_name=person.first_name, runs=next_runs(nl.settings, now, 7), latest_url=latest,
            preferences_url=self.preferences_url(address),
            unsubscribe_url=unsubscribe_url(nl.settings, nl.secret_key().value, address))
        claim = claim_welcome(nl.store, address, now=now)
        if claim is None:
            return WelcomeOutcome("already")
        error = send_notice(nl.settings, address, welcome.subject, welcome.text, html=welcome.html,
                            environ=nl.environ, now=now)
        settle_welcome(nl.store, claim.subscriber_id, now=nl.clock(), error=error)
        if error:
            log.error("the welcome could not be sent: %s", error)
            return WelcomeOutcome("failed", error)
        return WelcomeOutcome("sent")

    # -- data and erasure ------------------------------------------------------------------------

    def data(self, address: str) -> dict[str, Any]:
        """Everything stored about the reader (RGPD art. 15), JSON-ready: address, names, status and its
        history, consent (when, how, which form), preferences, the welcome, the issues sent, feedback
        and bounce events.

        :raises ReaderNotFoundError: when the address is not in the list.
        """
        from newsletter.store.readers import reader_data

        found = reader_data(self._nl.reading_store(), address)
        if found is None:
            raise ReaderNotFoundError(N_("%(address)s is not in the subscriber list"), values={"address": address})
        return {"newsletter": self._nl.settings.newsletter.name, "exported_at": self._nl.clock().isoformat(),
                "subscriber": found}

    def erased_digest(self, address: str) -> str:
        """The keyed hash under which an erased ``address`` is remembered."""
        from newsletter.core.tokens import ERASED, keyed_digest

        return keyed_digest(self._nl.secret_key().value, ERASED, address)

    def is_erased(self, address: str) -> bool:
        """Whether ``address`` belongs to a reader who erased their data (and did not subscribe again)."""
        from newsletter.store.readers import any_erased, erased_among

        store = self._nl.reading_store()
        return any_erased(store) and bool(erased_among(store, [self.erased_digest(address)]))

    def erased_check(self) -> "Callable[[str], str] | None":
        """The keyed hash to check each address of an import against, or None while nobody was erased
        (then no secret key is needed)."""
        from newsletter.store.readers import any_erased

        return self.erased_digest if any_erased(self._nl.reading_store()) else None

    def erase(self, address: str) -> None:
        """Erase the reader ``address`` (RGPD art. 17): the subscriber and every row naming them; the
        ledger keeps its counts without them; the address survives only as a keyed hash that keeps it
        out of every import, ``add`` and API call until the reader subscribes again through the form.

        :raises ReaderNotFoundError: when the address is not in the list (erased already: no replay).
        """
        from newsletter.library.clicks import erase_reader
        from newsletter.store.readers import erase_subscriber

        erase_reader(self._nl, address)  # the clicks recognised as theirs, while the row still says whose
        if not erase_subscriber(self._nl.store, address, self.erased_digest(address), now=self._nl.clock()):
            raise ReaderNotFoundError(N_("%(address)s is not in the subscriber list (erased already?)"),
                                      hint=N_("nothing was done; `newsletter subscribers list` shows who is"),
                                      values={"address": address})
        log.info("a reader's data was erased")

    def erase_confirmed(self, token: str) -> str:
        """The confirming step of an erasure asked on the preferences page: erase the address of ``token``.

        :return: the address erased.
        :raises PreferenceError: when the token is forged, altered or expired.
        :raises ReaderNotFoundError: when it was erased already (a replayed confirmation).
        """
        address, problem = self.address_of_erasure(token)
        if address is None:
            raise PreferenceError(f"the erasure link is {problem}", hint="open your preferences page again")
        self.erase(address)
        return address

    def readmit(self, address: str) -> None:
        """Forget the erasure of ``address``: its owner confirmed a new subscription through the form."""
        from newsletter.store.readers import any_erased, lift_suppression

        if any_erased(self._nl.store):
            lift_suppression(self._nl.store, self.erased_digest(address))
