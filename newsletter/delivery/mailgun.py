"""The ``mailgun`` adapter: Mailgun's Messages API, up to 1,000 recipients per call.

One call carries the issue once, with ``%recipient.sN%`` where each recipient's fields go,
and ``recipient-variables`` holding every recipient's values (which also makes Mailgun send
each one a separate message). List-Unsubscribe is per recipient through the same variables.
Mailgun has no idempotency key: a call left without an answer is recorded as uncertain.
Mailgun documents internationalized addresses (SMTPUTF8) on its Messages API, so a non-ASCII
local part is sent as it is (UTF-8 in the form), the domain in IDNA A-labels.
"""

from __future__ import annotations

import base64
import json
import re
from email.utils import formataddr
from typing import Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call
from newsletter.delivery.base import Outgoing, RequestRefused, Result, Sent, register, text_option
from newsletter.errors import ConfigError
from newsletter.render.mime import OWN_ID, Layout, format_address, own_id

@register
class MailgunAdapter(ApiAdapter):
    name = "mailgun"
    max_batch = batch_size = 1000
    regions = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
    placeholder = "%recipient.s{}%"
    reserved = ("%recipient",)
    default_key_env = "MAILGUN_API_KEY"
    known_options = ("domain", "region", "api_key_env", "tag", *ApiAdapter.common_options)
    smtputf8 = True

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        self.domain = text_option(self, "domain", required=True)
        if not re.fullmatch(r"[A-Za-z0-9.-]+", self.domain):
            raise ConfigError(f"newsletter.toml: [delivery.mailgun] domain must be a domain name such as "
                              f'"mg.example.org" (got {self.domain!r})')
        self.tag = text_option(self, "tag")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"api:{self.key}".encode()).decode()}

    def endpoint(self) -> str:
        return f"{self.base_url}/v3/{self.domain}/messages"

    def build(self, items: Sequence[Outgoing], layout: Layout) -> Call:
        fields: list[tuple[str, str]] = [
            ("from", formataddr((layout.sender_name, layout.sender_address))),
            ("subject", layout.subject),
            ("text", self.text),
            ("html", self.html),
            ("h:Reply-To", layout.reply_to),
            ("h:List-Unsubscribe", "%recipient.unsubscribe%"),
            *((f"h:{name}", value) for name, value in layout.headers),
        ]
        if self.tag:
            fields.append(("o:tag", self.tag))
        variables = {}
        for item in items:
            person = item.personal
            fields.append(("to", format_address(person.name, person.email)))
            values = {f"s{n}": v for n, v in enumerate(layout.slot_values(person.values))}
            values["unsubscribe"] = person.list_unsubscribe
            values[OWN_ID] = own_id(person.message_id)  # comes back in webhook events' user-variables
            variables[person.email] = values
        fields.append((f"v:{OWN_ID}", f"%recipient.{OWN_ID}%"))
        fields.append(("recipient-variables", json.dumps(variables, ensure_ascii=False)))
        # Multipart/form-data, as Mailgun documents it: (name, (filename None, value)).
        return Call(items, files=[(name, (None, value)) for name, value in fields])

    def accepted(self, call: Call, response: requests.Response) -> list[Result]:
        try:
            message_id = str(response.json().get("id", ""))
        except (ValueError, AttributeError):
            message_id = ""
        if not message_id:
            # Mailgun answers 200 with a bare banner when the URL is not an API endpoint.
            raise RequestRefused(f"mailgun answered {response.status_code} without a message id "
                                 f"({response.text[:80]!r}); nothing was queued",
                                 [item.key for item in call.items], provider=self.name,
                                 status=response.status_code, answer=response.text,
                                 hint="check [delivery.mailgun] domain and base_url")
        return [Sent(item.key, provider_id=message_id) for item in call.items]
