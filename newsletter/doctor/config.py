"""The checks that need no network: the secret key is strong, the delivery adapter starts with its credentials."""

from __future__ import annotations

from typing import Mapping

from newsletter.config import SECRET_KEY_ENV, Settings
from newsletter.core.tokens import GENERATE, weakness
from newsletter.delivery.base import adapter_class
from newsletter.doctor.report import Finding, HintOf, error, ok, warning
from newsletter.errors import N_, NewsletterError


def check_secret_key(key: str) -> Finding:
    if not key.strip():
        return error("secret-key", N_("%(variable)s is not set: unsubscribe links cannot be made or read"),
                     N_("export %(variable)s=$(%(command)s) with the same value for send, schedule run and serve"),
                     variable=SECRET_KEY_ENV, command=GENERATE)
    found = weakness(key)
    if found is not None:
        return error("secret-key", N_("%(variable)s %(weakness)s"),
                     N_("generate one with %(command)s, then use it for send, schedule run and serve"),
                     variable=SECRET_KEY_ENV, weakness=found, command=GENERATE)
    return ok("secret-key", N_("%(variable)s is long and random enough"), variable=SECRET_KEY_ENV)


def check_credentials(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """The adapter made as ``send`` makes it: missing credentials and bad options show here, not at 7 am."""
    name = settings.delivery.adapter
    try:
        adapter_class(name)(settings, dict(environ))
    except NewsletterError as err:
        return [error("delivery", N_("the %(name)s adapter cannot start: %(error)s"),
                      "%(hint)s" if err.hint else N_("edit newsletter.toml or set the environment variable it names "
                                                     "in the service's environment"),
                      name=name, error=err, hint=HintOf(err))]
    if name == "outbox":
        return [warning("delivery", N_("the outbox adapter writes messages to a folder and delivers nothing itself"),
                        N_('set [delivery] adapter = "smtp" (or a mail API) before sending to subscribers, unless a '
                           "local mail server picks the outbox up"))]
    return [ok("delivery", N_("the %(name)s adapter has its settings and credentials"), name=name)]


def check_spelling(settings: Settings) -> Finding:
    """Whether ``check`` can read the newsletter's language: without the library or its dictionary the
    spelling check is only a notice in every ``check``, easy to overlook."""
    if not settings.check.spelling:
        return ok("spelling", N_("the spelling check is turned off ([check] spelling = false)"))
    from newsletter.content.spelling import dictionary

    locale = settings.newsletter.locale
    try:
        dictionary(locale)
    except NewsletterError as err:
        return warning("spelling", N_("check cannot spell-check %(locale)s: %(error)s"),
                       N_("install the packages named, or set spelling = false under [check]"),
                       locale=locale, error=err)
    return ok("spelling", N_("check spell-checks titles and texts with the %(locale)s dictionary"), locale=locale)


def check_unsubscribe_mailbox(settings: Settings) -> Finding:
    """Where the ``mailto:`` of List-Unsubscribe goes: without ``[bounces] unsubscribe_address`` it is
    the Reply-To, a mailbox people read, where nothing unsubscribes anyone (RFC 8058 clients use the
    https link, but others still send that mail)."""
    bounces = settings.bounces
    if bounces is not None and bounces.unsubscribe_address:
        return ok("unsubscribe", N_("mailto unsubscribes go to %(address)s, which `bounces process` reads"),
                  address=bounces.unsubscribe_address)
    domain = bounces.address.rpartition("@")[2] if bounces is not None else settings.newsletter.sender_domain
    fix = (N_('set [bounces] unsubscribe_address = "unsubscribe@%(domain)s" (a mailbox `bounces process` reads)')
           if bounces is not None else
           N_("add a [bounces] table with address and unsubscribe_address, and run `bounces process` on that mailbox"))
    return warning("unsubscribe", N_("the List-Unsubscribe mailto: goes to the Reply-To %(reply_to)s, which nothing "
                                     "reads for unsubscribes: a reader who unsubscribes by mail stays subscribed"),
                   fix, reply_to=settings.newsletter.reply_to, domain=domain)
