"""The checks that need no network: the secret key is strong, the delivery adapter starts with its credentials."""

from __future__ import annotations

from typing import Mapping

from newsletter.config import SECRET_KEY_ENV, Settings
from newsletter.core.tokens import GENERATE, key_weakness
from newsletter.delivery.base import adapter_class
from newsletter.doctor.report import Finding, error, ok, warning
from newsletter.errors import NewsletterError


def check_secret_key(key: str) -> Finding:
    if not key.strip():
        return error("secret-key", f"{SECRET_KEY_ENV} is not set: unsubscribe links cannot be made or read",
                     f"export {SECRET_KEY_ENV}=$({GENERATE}) with the same value for send, schedule run and serve")
    weakness = key_weakness(key)
    if weakness:
        return error("secret-key", f"{SECRET_KEY_ENV} {weakness}",
                     f"generate one with {GENERATE}, then use it for send, schedule run and serve")
    return ok("secret-key", f"{SECRET_KEY_ENV} is long and random enough")


def check_credentials(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """The adapter made as ``send`` makes it: missing credentials and bad options show here, not at 7 am."""
    name = settings.delivery.adapter
    try:
        adapter_class(name)(settings, dict(environ))
    except NewsletterError as err:
        return [error("delivery", f"the {name} adapter cannot start: {err}", err.hint or "edit newsletter.toml "
                      "or set the environment variable it names in the service's environment")]
    if name == "outbox":
        return [warning("delivery", "the outbox adapter writes messages to a folder and delivers nothing itself",
                        'set [delivery] adapter = "smtp" (or a mail API) before sending to subscribers, unless a '
                        "local mail server picks the outbox up")]
    return [ok("delivery", f"the {name} adapter has its settings and credentials")]


def check_spelling(settings: Settings) -> Finding:
    """Whether ``check`` can read the newsletter's language: without the library or its dictionary the
    spelling check is only a notice in every ``check``, easy to overlook."""
    if not settings.check.spelling:
        return ok("spelling", "the spelling check is turned off ([check] spelling = false)")
    from newsletter.content.spelling import dictionary

    locale = settings.newsletter.locale
    try:
        dictionary(locale)
    except NewsletterError as err:
        return warning("spelling", f"check cannot spell-check {locale}: {err}",
                       "install the packages named, or set spelling = false under [check]")
    return ok("spelling", f"check spell-checks titles and texts with the {locale} dictionary")


def check_unsubscribe_mailbox(settings: Settings) -> Finding:
    """Where the ``mailto:`` of List-Unsubscribe goes: without ``[bounces] unsubscribe_address`` it is
    the Reply-To, a mailbox people read, where nothing unsubscribes anyone (RFC 8058 clients use the
    https link, but others still send that mail)."""
    bounces = settings.bounces
    if bounces is not None and bounces.unsubscribe_address:
        return ok("unsubscribe", f"mailto unsubscribes go to {bounces.unsubscribe_address}, which "
                  "`bounces process` reads")
    domain = bounces.address.rpartition("@")[2] if bounces is not None else settings.newsletter.sender_domain
    fix = (f'set [bounces] unsubscribe_address = "unsubscribe@{domain}" (a mailbox `bounces process` reads)'
           if bounces is not None else
           "add a [bounces] table with address and unsubscribe_address, and run `bounces process` on that mailbox")
    return warning("unsubscribe", f"the List-Unsubscribe mailto: goes to the Reply-To {settings.newsletter.reply_to}, "
                   "which nothing reads for unsubscribes: a reader who unsubscribes by mail stays subscribed", fix)
