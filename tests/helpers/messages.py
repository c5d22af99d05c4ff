"""Reading back what the message factory writes: the reply reference, and the same message built the usual
way with :class:`email.message.EmailMessage` (the reference the tests and ``bench/send.py`` compare with)."""

from __future__ import annotations

from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from newsletter.config import Settings
from newsletter.core.tokens import unseal
from newsletter.render.mime import _REFERENCE, Recipient, message_id, recipient_values, slug
from newsletter.render.pipeline import RenderedIssue


def read_reply_reference(secret_key: str, reference: str) -> tuple[str, str] | None:
    """``(issue date, address)`` of a ``reply_reference``, or ``None`` for a forged or altered one."""
    data = unseal(secret_key, _REFERENCE, reference.strip())
    issue_key, sep, address = (data or b"").decode("utf-8", "replace").partition("\0")
    return (issue_key, address) if data and sep else None


def build_message_stdlib(rendered: RenderedIssue, settings: Settings, recipient: Recipient, *, secret_key: str,
                         date: datetime) -> bytes:
    """The same message built the usual way, with :class:`EmailMessage` (reference and baseline)."""
    nl = settings.newsletter
    values = recipient_values(settings, recipient, secret_key)
    html, text = rendered.personalize(values)
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = formataddr((nl.sender_name, nl.sender_address))
    msg["To"] = formataddr((recipient.display_name, recipient.email))
    msg["Reply-To"] = nl.reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id(settings, rendered.issue.date.isoformat(), recipient.email)
    msg["List-Id"] = f"<{slug(nl.name)}.{nl.sender_domain}>"
    msg["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>, <mailto:{nl.reply_to}?subject=unsubscribe>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["List-Archive"] = f"<{nl.base_url}/archive/>"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()
