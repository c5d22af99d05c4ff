"""One-off service emails (alerts to the operator, subscription confirmations) through the configured adapter.

They go through the same transport as the issues, so whatever works for sending works for
them, and they are kept out of the ledger. The recipient's domain goes in IDNA A-labels (the
standard library would write a non-ASCII domain as an RFC 2047 word, which no server can
route); a non-ASCII local part makes the message internationalized (RFC 6532, SMTPUTF8).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr
from html import escape
from typing import Mapping

from newsletter.core.addresses import needs_smtputf8, wire
from newsletter.config import Settings
from newsletter.core.clock import utc_now
from newsletter.delivery.base import Outgoing, make_adapter, send_once
from newsletter.errors import AddressError, NewsletterError
from newsletter.render.mime import BuiltMessage, Layout, Personal


def send_notice(settings: Settings, to: str, subject: str, text: str, *, html: str = "",
                environ: Mapping[str, str] | None = None, now: datetime | None = None) -> str:
    """Send one message to ``to``; return "" when it was accepted, else the reason it was not.

    :param now: the Date header (a scheduler with an injected clock passes its own).
    """
    nl = settings.newsletter
    mid = f"<notice.{uuid.uuid4().hex}@{nl.sender_domain}>"
    try:
        to = wire(to)
    except AddressError as err:
        return str(err)
    smtputf8 = needs_smtputf8(to)
    message = EmailMessage()
    message["From"] = formataddr((nl.sender_name, nl.sender_address))
    message["To"] = to
    message["Reply-To"] = nl.reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(now or utc_now())
    message["Message-ID"] = mid
    message.set_content(text, cte="quoted-printable")
    html = html or f"<pre>{escape(text)}</pre>"
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    person = Personal(to, "", mid, f"<mailto:{nl.reply_to}?subject=unsubscribe>", {})
    layout = Layout(subject, nl.sender_name, nl.sender_address, nl.reply_to, html, text, (), ())
    try:
        adapter = make_adapter(settings, environ)
        data = message.as_bytes(policy=SMTPUTF8 if smtputf8 else SMTP)
        built = BuiltMessage(to, mid, data, smtputf8) if adapter.wants_mime else None
        results = send_once(adapter, layout, [Outgoing(0, person, nl.sender_address, built)])
    except NewsletterError as err:
        return str(err)
    if results and all(r.ok for r in results):
        return ""
    return "; ".join(r.error for r in results) or "the transport gave no answer"
