"""The ``brevo`` adapter: Brevo's transactional email API, up to 1,000 message versions per call.

The issue goes once, with ``{{ params.sN }}`` where each recipient's fields go; each recipient
is a message version with its own ``params`` and List-Unsubscribe header. Every call carries
an idempotency key, so a call left without an answer is repeated with the same key and
Brevo sends it at most once.

Brevo's template language might escape the values it inserts, so a recipient whose values
hold characters that HTML escaping changes (``& < > " '``) gets a version with the HTML
already filled in instead of params.
"""

from __future__ import annotations

import re
import uuid
from email.header import Header
from typing import Any, Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call, parse_retry_after
from newsletter.delivery.base import Outgoing, Result, Sent, register, text_option
from newsletter.render.mime import Layout, own_id

_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def _contact(email: str, name: str) -> dict[str, str]:
    if not name:
        return {"email": email}
    if not name.isascii() and _SPECIALS.search(name):
        # Brevo drops a non-ASCII name that holds a special character; an encoded word survives.
        name = Header(name, "utf-8").encode()
    return {"email": email, "name": name}


@register
class BrevoAdapter(ApiAdapter):
    name = "brevo"
    max_batch = batch_size = 1000
    default_base_url = "https://api.brevo.com"
    default_key_env = "BREVO_API_KEY"
    idempotent = True
    placeholder = "{{{{ params.s{} }}}}"
    reserved = ("{{", "{%")
    known_options = ("api_key_env", "tag", *ApiAdapter.common_options)

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        self.tag = text_option(self, "tag")

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.key, "Accept": "application/json"}

    def endpoint(self) -> str:
        return f"{self.base_url}/v3/smtp/email"

    def build(self, items: Sequence[Outgoing], layout: Layout) -> Call:
        versions = []
        for item in items:
            person = item.personal
            values = layout.slot_values(person.values)
            version: dict[str, Any] = {"to": [_contact(person.email, person.name)],
                                       "headers": {"List-Unsubscribe": person.list_unsubscribe,
                                                   # Brevo returns this header's value in its webhook events.
                                                   "X-Mailin-custom": own_id(person.message_id)}}
            if any("&" in v for v in values):
                version["htmlContent"] = layout.personalize(person.values)[0]
            version["params"] = {f"s{n}": v for n, v in enumerate(values)}
            versions.append(version)
        key = str(uuid.uuid4())
        body: dict[str, Any] = {
            "sender": _contact(layout.sender_address, layout.sender_name),
            "replyTo": {"email": layout.reply_to},
            "subject": layout.subject,
            "htmlContent": self.html,
            "textContent": self.text,
            "headers": {**dict(layout.headers), "idempotencyKey": key},
            "messageVersions": versions,
        }
        if self.tag:
            body["tags"] = [self.tag]
        return Call(items, json=body)

    def accepted(self, call: Call, response: requests.Response) -> list[Result]:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        ids = answer.get("messageIds") if isinstance(answer, dict) else None
        if isinstance(ids, list) and len(ids) == len(call.items):
            return [Sent(item.key, provider_id=str(i)) for item, i in zip(call.items, ids)]
        shared = str(answer.get("messageId", "")) if isinstance(answer, dict) else ""
        return [Sent(item.key, provider_id=shared) for item in call.items]

    def throttle_wait(self, response: requests.Response) -> float | None:
        # Brevo sends no Retry-After; its reset header counts the seconds left in the window.
        return parse_retry_after(response.headers.get("Retry-After") or response.headers.get("x-sib-ratelimit-reset"))
