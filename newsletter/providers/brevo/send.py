"""The ``brevo`` adapter: Brevo's transactional email API, up to 1,000 message versions per call.

The issue goes once, with ``{{ params.sN }}`` where each recipient's fields go; each recipient
is a message version with its own ``params`` and List-Unsubscribe header. Every call carries
an idempotency key, so a call left without an answer (or answered without its message ids) is
repeated with the same key, and Brevo sends it at most once; a call still in doubt after three
tries is recorded so.

Messages in doubt are looked up in Brevo's transactional events (``GET /v3/smtp/statistics/events``,
``event=requests``: the messages Brevo accepted, 2,500 a page, by day): a message is found by its
recipient and subject at or after the time it could have arrived (Brevo's events carry no custom
variable). Brevo documents no recording delay; the default ``lookup_delay`` is 600 s.

Brevo's template language might escape the values it inserts, so a recipient whose values
hold characters that HTML escaping changes (``& < > " '``) gets a version with the HTML
already filled in instead of params.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from email.header import Header
from typing import Any, Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import CLOCK_SKEW, ApiAdapter, Call, Search, parse_retry_after
from newsletter.delivery.base import Doubt, Outgoing, Result, Sent, register, text_option
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
    recording_delay = 600.0
    #: Events per page of Brevo's event report (its default and documented page).
    page_size = 2500

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

    def accepted(self, call: Call, response: requests.Response) -> list[Result] | None:
        # Brevo's acceptance: 201 with "messageIds" (one per version) or, for one message, "messageId".
        try:
            answer = response.json()
        except ValueError:
            return None
        if not isinstance(answer, dict):
            return None
        ids = answer.get("messageIds")
        if isinstance(ids, list) and len(ids) == len(call.items) and all(isinstance(i, str) and i for i in ids):
            return [Sent(item.key, provider_id=i) for item, i in zip(call.items, ids)]
        shared = answer.get("messageId")
        if ids is None and isinstance(shared, str) and shared:
            return [Sent(item.key, provider_id=shared) for item in call.items]
        return None

    def look_up(self, rows: Sequence[Doubt], begin: datetime, end: datetime, search: Search) -> dict[int, str]:
        by_email = {row.email.lower(): row for row in rows}
        found: dict[int, str] = {}
        # Brevo's report takes days, in the account's time zone: a day more on each side covers any zone.
        params = {"event": "requests", "sort": "asc", "limit": str(self.page_size),
                  "startDate": (begin - timedelta(days=1)).date().isoformat(),
                  "endDate": (end + timedelta(days=1)).date().isoformat()}
        if self.tag:
            params["tags"] = self.tag
        offset = 0
        while len(found) < len(by_email):
            page = search.get(f"{self.base_url}/v3/smtp/statistics/events", {**params, "offset": str(offset)})
            if page == {}:  # Brevo answers an empty object when no event matches
                break
            events = page.get("events") if isinstance(page, dict) else None
            if not isinstance(events, list):
                if page is not None:
                    search.cut("brevo's event report has no events list")
                break
            for event in events:
                if not isinstance(event, dict):
                    continue
                row = by_email.get(str(event.get("email", "")).lower())
                if row is not None and event.get("subject") == row.subject and \
                        _moment(event.get("date")) >= row.since - CLOCK_SKEW:
                    found[row.key] = str(event.get("messageId", ""))
            offset += len(events)
            if len(events) < self.page_size:
                break
        return found

    def throttle_wait(self, response: requests.Response) -> float | None:
        # Brevo sends no Retry-After; its reset header counts the seconds left in the window.
        return parse_retry_after(response.headers.get("Retry-After") or response.headers.get("x-sib-ratelimit-reset"))


def _moment(value: object) -> datetime:
    """A date of Brevo's event report; the far past when unreadable (then it proves nothing)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
