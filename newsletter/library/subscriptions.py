"""The public side of the list (``nl.subscriptions``): the web form's double opt-in and the
one-click unsubscribe. Nothing here knows Flask: plain values in, typed answers out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.errors import NewsletterError, StoreError
from newsletter.library.project import Project
from newsletter.library.readers import Readers


class Subscriptions:
    """The public side of the list (``nl.subscriptions``): double opt-in and one-click unsubscribe.

    The addresses given here are canonical already (the web form checks them); times come from the
    newsletter's clock.
    """

    def __init__(self, newsletter: Project) -> None:
        self._nl = newsletter

    def request(self, address: str, *, first_name: str = "", ip: str = "") -> None:
        """Record a subscription request from the web form, waiting for its confirmation."""
        from newsletter.store.subscribers import request_subscription

        nl = self._nl
        request_subscription(nl.store, address, now=nl.clock(), first_name=first_name, ip=ip)

    def confirm(self, address: str, *, link: str, issued_at: datetime, ip: str = "",
                click_consent: bool = False) -> bool:
        """Make the address active: its owner clicked the confirmation link ``link``, made at ``issued_at``.

        A link works once, and never outranks an unsubscribe, a bounce or a complaint recorded after it.
        ``click_consent``: the owner ticked the box of per-reader click counts (recorded with
        ``[analytics] per_subscriber`` only; asked on the confirmation page, where only the mailbox's
        owner can be).

        :return: whether the address is active now (False: the link was used already, or the address
            left the list after the link was made).
        """
        import hashlib

        from newsletter.store.subscribers import confirm_subscription

        nl = self._nl
        digest = hashlib.sha256(link.encode("utf-8")).hexdigest()  # the store never holds a usable link
        active = confirm_subscription(nl.store, address, now=nl.clock(), link=digest, issued_at=issued_at,
                                      keep=timedelta(hours=nl.settings.web.confirm_hours, days=1), ip=ip)
        if active:
            Readers(nl).readmit(address)  # a fresh double opt-in lifts an erasure
            if click_consent and nl.settings.analytics.per_subscriber:
                from newsletter.store.clicks import set_consent

                set_consent(nl.store, address, nl.clock())
        return active

    def address_of(self, token: str) -> str | None:
        """The address an unsubscribe token names, or None when the token is not a valid one."""
        from newsletter.core.tokens import UNSUBSCRIBE, read_token

        return read_token(self._nl.secret_key().value, UNSUBSCRIBE, token)

    def unsubscribe_by_token(self, token: str) -> str | None:
        """Unsubscribe the address of an unsubscribe token, committed when this returns.

        :return: the address (also when it was not, or no longer, in the list: the answer is the
            same), or None when the token is not a valid one.
        :raises StoreError: when the database did not keep the change (never say "done" then).
        """
        from newsletter.store.subscribers import unsubscribe

        address = self.address_of(token)
        if address is None:
            return None
        try:
            unsubscribe(self._nl.store, address, now=self._nl.clock())
        except StoreError:
            raise
        except NewsletterError:
            pass  # not (or no longer) in the list
        from newsletter.library.clicks import erase_reader

        erase_reader(self._nl, address)  # per-reader click counts end with the subscription
        return address

    def status(self, address: str) -> str | None:
        """The subscriber's status (``active``, ``unsubscribed``…), or None when the address is unknown."""
        from newsletter.store.subscribers import find_subscriber

        person = find_subscriber(self._nl.store, address)
        return person.status if person is not None else None

    def is_unsubscribed(self, address: str) -> bool:
        """Whether the address left the list by unsubscribing."""
        from newsletter.store.models import SubscriberStatus

        return self.status(address) == SubscriberStatus.UNSUBSCRIBED.value

    def awaits_confirmation(self, address: str) -> bool:
        """Whether a confirmation mail may go to ``address``: it asked (it is known) and is not active."""
        from newsletter.store.models import SubscriberStatus

        status = self.status(address)
        return status is not None and status != SubscriberStatus.ACTIVE.value

    def mail(self, address: str, subject: str, text: str, *, html: str = "") -> str:
        """Send one message of the service (a confirmation) through the configured transport.

        :return: "" when it was accepted, else the reason it was not.
        """
        from newsletter.services.notify import send_notice

        return send_notice(self._nl.settings, address, subject, text, html=html, environ=self._nl.environ)
