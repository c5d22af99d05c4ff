"""The ``sendgrid`` adapter: SendGrid's v3 Mail Send, up to 1,000 personalizations per call.

The issue goes once as the call's content; each recipient is a personalization whose
``substitutions`` replace the merge tokens (used as they are: they never occur in text) and
whose ``headers`` carry their own List-Unsubscribe. SendGrid has no idempotency key: a call
left without an answer, or accepted without its ``X-Message-Id`` (a proxy's 200, a wrong ``base_url``),
is in doubt.

SendGrid's record of what it took, the Email Activity API (``GET /v3/messages``), needs the paid
"additional email activity history" add-on, an API key allowed to read it, and answers 6 requests a
minute with at most 1,000 messages: the lookup is off unless ``lookup = true``. It then asks once,
for the messages of the issue's subject since the first could have arrived, and matches recipients.
SendGrid does not support a non-ASCII local part (it accepts the call, then drops the message
as invalid): such a recipient fails before the call (see :mod:`newsletter.delivery.api`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call, Search
from newsletter.delivery.base import Doubt, Outgoing, Result, Sent, register, text_option
from newsletter.core.merge import slot_token
from newsletter.render.mime import OWN_ID, Layout, own_id

@register
class SendGridAdapter(ApiAdapter):
    name = "sendgrid"
    max_batch = batch_size = 1000
    regions = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
    default_key_env = "SENDGRID_API_KEY"
    known_options = ("region", "api_key_env", "category", *ApiAdapter.common_options)
    lookup_by_default = False  # the Email Activity API is a paid add-on
    #: The most messages one Email Activity answer holds (it has no pages).
    activity_limit = 1000

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        self.category = text_option(self, "category")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def endpoint(self) -> str:
        return f"{self.base_url}/v3/mail/send"

    def build(self, items: Sequence[Outgoing], layout: Layout) -> Call:
        personalizations = []
        for item in items:
            person = item.personal
            to = {"email": person.email, **({"name": person.name} if person.name else {})}
            values = layout.slot_values(person.values)
            personalizations.append({
                "to": [to],
                "substitutions": {slot_token(n): v for n, v in enumerate(values)},
                "headers": {"List-Unsubscribe": person.list_unsubscribe},
                "custom_args": {OWN_ID: own_id(person.message_id)},  # comes back in each Event Webhook event
            })
        body = {
            "personalizations": personalizations,
            "from": {"email": layout.sender_address, **({"name": layout.sender_name} if layout.sender_name else {})},
            "reply_to": {"email": layout.reply_to},
            "subject": layout.subject,
            "content": [{"type": "text/plain", "value": layout.text}, {"type": "text/html", "value": layout.html}],
            "headers": dict(layout.headers),
        }
        if self.category:
            body["categories"] = [self.category]
        return Call(items, json=body)

    def accepted(self, call: Call, response: requests.Response) -> list[Result] | None:
        # SendGrid's acceptance is 202 with the X-Message-Id header (its sandbox answers 200 and sends nothing).
        message_id = response.headers.get("X-Message-Id", "").strip()
        if response.status_code != 202 or not message_id:
            return None
        return [Sent(item.key, provider_id=message_id) for item in call.items]

    def look_up(self, rows: Sequence[Doubt], begin: datetime, end: datetime, search: Search) -> dict[int, str]:
        by_email = {row.email.lower(): row for row in rows}
        subject = rows[0].subject.replace("\\", "\\\\").replace('"', '\\"')
        query = (f'subject="{subject}" AND last_event_time BETWEEN TIMESTAMP "{_stamp(begin)}" '
                 f'AND TIMESTAMP "{_stamp(end)}"')
        page = search.get(f"{self.base_url}/v3/messages", {"limit": str(self.activity_limit), "query": query})
        messages = page.get("messages") if isinstance(page, dict) else None
        if not isinstance(messages, list):
            if page is not None:
                search.cut("sendgrid's activity answer has no messages list")
            return {}
        if len(messages) >= self.activity_limit:
            search.cut(f"sendgrid's activity feed shows at most {self.activity_limit} messages per question")
        found: dict[int, str] = {}
        for message in messages:
            if not isinstance(message, dict):
                continue
            row = by_email.get(str(message.get("to_email", "")).lower())
            if row is not None and message.get("subject") == row.subject and row.since - _SKEW <= _parsed(
                    message.get("last_event_time")):
                # msg_id is the X-Message-Id of the call, followed by ".filter…": the ledger keeps the former.
                found[row.key] = str(message.get("msg_id", "")).split(".filter")[0]
        return found

    def throttle_wait(self, response: requests.Response) -> float | None:
        wait = super().throttle_wait(response)
        reset = response.headers.get("X-RateLimit-Reset", "")
        if wait is None and reset.isascii() and reset.isdigit() and len(reset) <= 12:  # a Unix time
            wait = max(0.0, int(reset) - time.time())
        return wait


_SKEW = timedelta(minutes=5)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parsed(value: object) -> datetime:
    """A timestamp of the activity feed; the far past when unreadable (then it proves nothing)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
