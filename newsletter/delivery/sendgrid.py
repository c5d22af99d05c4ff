"""The ``sendgrid`` adapter: SendGrid's v3 Mail Send, up to 1,000 personalizations per call.

The issue goes once as the call's content; each recipient is a personalization whose
``substitutions`` replace the merge tokens (used as they are: they never occur in text) and
whose ``headers`` carry their own List-Unsubscribe. SendGrid has no idempotency key: a call
left without an answer is recorded as uncertain.
SendGrid does not support a non-ASCII local part (it accepts the call, then drops the message
as invalid): such a recipient fails before the call (see :mod:`newsletter.delivery.api`).
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call
from newsletter.delivery.base import Outgoing, Result, Sent, register, text_option
from newsletter.merge import slot_token
from newsletter.render.mime import OWN_ID, Layout, own_id

@register
class SendGridAdapter(ApiAdapter):
    name = "sendgrid"
    max_batch = batch_size = 1000
    regions = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
    default_key_env = "SENDGRID_API_KEY"
    known_options = ("region", "api_key_env", "category", *ApiAdapter.common_options)

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

    def accepted(self, call: Call, response: requests.Response) -> list[Result]:
        message_id = response.headers.get("X-Message-Id", "")
        return [Sent(item.key, provider_id=message_id) for item in call.items]

    def throttle_wait(self, response: requests.Response) -> float | None:
        wait = super().throttle_wait(response)
        reset = response.headers.get("X-RateLimit-Reset", "")
        if wait is None and reset.isascii() and reset.isdigit() and len(reset) <= 12:  # a Unix time
            wait = max(0.0, int(reset) - time.time())
        return wait
