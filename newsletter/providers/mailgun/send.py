"""The ``mailgun`` adapter: Mailgun's Messages API, up to 1,000 recipients per call.

One call carries the issue once, with ``%recipient.sN%`` where each recipient's fields go,
and ``recipient-variables`` holding every recipient's values (which also makes Mailgun send
each one a separate message). List-Unsubscribe is per recipient through the same variables.
Mailgun has no idempotency key: a call left without an answer, or answered 200 without its message
id, is in doubt. Its messages are looked up in Mailgun's events (``GET /v3/{domain}/events``, the
``accepted`` events of the time they could have arrived, for 50 recipients a question, 300 a
page), each found by our own id in its ``user-variables``. Mailgun documents that events may take
up to half an hour to be all retrievable ("Event Polling"): absence proves nothing before
``lookup_delay`` (1,800 s) has passed.
Mailgun documents internationalized addresses (SMTPUTF8) on its Messages API, so a non-ASCII
local part is sent as it is (UTF-8 in the form), the domain in IDNA A-labels.
"""

from __future__ import annotations

import base64
import json
import re
from email.utils import formataddr
from datetime import datetime
from typing import Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call, Search
from newsletter.delivery.base import Doubt, Outgoing, Result, Sent, register, text_option
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
    #: Recipients per question to the events API (one filter expression).
    lookup_group = 50

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

    def accepted(self, call: Call, response: requests.Response) -> list[Result] | None:
        # Mailgun's acceptance: 200 {"id": "<…@domain>", "message": "Queued. Thank you."}. Anything else
        # (its bare banner at a wrong URL, a proxy's page, a cut body) is not proof either way.
        try:
            answer = response.json()
        except ValueError:
            return None
        message_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(message_id, str) or not message_id.strip():
            return None
        return [Sent(item.key, provider_id=message_id) for item in call.items]

    def look_up(self, rows: Sequence[Doubt], begin: datetime, end: datetime, search: Search) -> dict[int, str]:
        # A question per group of recipients (a filter expression "a OR b OR …"), so that the search costs what
        # the rows in doubt cost, not what the whole time window holds (a large send's other messages).
        wanted = {own_id(row.message_id): row.key for row in rows}
        found: dict[int, str] = {}
        for start in range(0, len(rows), self.lookup_group):
            group = rows[start:start + self.lookup_group]
            url: str | None = f"{self.base_url}/v3/{self.domain}/events"
            params: dict[str, str] | None = {
                "begin": f"{begin.timestamp():.0f}", "end": f"{end.timestamp():.0f}", "ascending": "yes",
                "limit": "300", "event": "accepted", "recipient": " OR ".join(row.email for row in group)}
            while url and any(row.key not in found for row in group):
                page = search.get(url, params)
                items = page.get("items") if isinstance(page, dict) else None
                if not isinstance(items, list):
                    if page is not None:
                        search.cut("mailgun's events page has no items list")
                    return found
                if not items:  # the last page: Mailgun always gives a next URL, whose page is empty
                    break
                for event in items:
                    variables = event.get("user-variables") if isinstance(event, dict) else None
                    key = wanted.get(str(variables.get(OWN_ID, ""))) if isinstance(variables, dict) else None
                    if key is not None:
                        headers = (event.get("message") or {}).get("headers") or {}
                        found[key] = f"<{headers['message-id']}>" if headers.get("message-id") else ""
                url, params = (page.get("paging") or {}).get("next"), None  # the next URL carries the query
                if not isinstance(url, str):
                    search.cut("mailgun's events page has no next URL")
                    return found
        return found
