"""The ``postmark`` adapter: Postmark's batch endpoint, up to 500 finished messages per call.

Postmark takes complete messages, so each recipient's HTML and text are filled in here (one
substitution each) and sent in batches of at most 500 messages and 50 MB. The answer holds
one result per message, in order; a message refused inside an accepted call (inactive
recipient, invalid address) fails alone. Postmark has no idempotency key: a call left
without an answer, or answered 200 with what is not one result per message, is in doubt; so is a
message whose result says OK without a MessageID.

Messages in doubt are looked up in Postmark's outbound message search (``GET /messages/outbound``,
500 a page, offset + count at most 10,000, dates in US Eastern time as Postmark documents), in the
stream of the send and the time they could have arrived, each found by our own id in its
``Metadata``. A message is listed as soon as Postmark accepted it; the default ``lookup_delay``
(300 s) leaves it time to be indexed before an absence counts.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import formataddr
from zoneinfo import ZoneInfo
from typing import Any, Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call, Search
from newsletter.delivery.base import Doubt, Failed, InDoubt, Outgoing, Result, Sent, register, text_option
from newsletter.render.mime import OWN_ID, Layout, own_id


@register
class PostmarkAdapter(ApiAdapter):
    name = "postmark"
    max_batch = batch_size = 500
    max_request_bytes = 50_000_000
    default_base_url = "https://api.postmarkapp.com"
    key_option = "server_token_env"
    default_key_env = "POSTMARK_SERVER_TOKEN"
    known_options = ("server_token_env", "message_stream", "tag", *ApiAdapter.common_options)
    recording_delay = 300.0
    #: Postmark's search: at most 500 a page, and offset + count at most 10,000.
    page_size, search_limit = 500, 10_000

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, environ)
        self.stream = text_option(self, "message_stream", "broadcast")
        self.tag = text_option(self, "tag")

    def auth_headers(self) -> dict[str, str]:
        return {"X-Postmark-Server-Token": self.key, "Accept": "application/json"}

    def endpoint(self) -> str:
        return f"{self.base_url}/email/batch"

    def build(self, items: Sequence[Outgoing], layout: Layout) -> Call:
        sender = formataddr((layout.sender_name, layout.sender_address))
        constant = [{"Name": name, "Value": value} for name, value in layout.headers]
        # Each message is encoded as soon as it is made: 500 finished messages held as Python
        # strings would take several times their 30 MB of JSON.
        encoded = []
        for item in items:
            person = item.personal
            html, text = layout.personalize(person.values)
            message: dict[str, Any] = {
                "From": sender,
                "To": formataddr((person.name, person.email)),
                "ReplyTo": layout.reply_to,
                "Subject": layout.subject,
                "HtmlBody": html,
                "TextBody": text,
                "Headers": [{"Name": "List-Unsubscribe", "Value": person.list_unsubscribe}, *constant],
                "MessageStream": self.stream,
                "Metadata": {OWN_ID: own_id(person.message_id)},  # comes back in bounce and complaint webhooks
            }
            if self.tag:
                message["Tag"] = self.tag
            encoded.append(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
        return Call(items, encoded=b"[" + b",".join(encoded) + b"]")

    def accepted(self, call: Call, response: requests.Response) -> list[Result] | None:
        try:
            answers = response.json()
        except ValueError:
            return None
        if not isinstance(answers, list) or len(answers) != len(call.items):
            return None  # cannot be matched to the messages: they may all have been accepted
        results: list[Result] = []
        for item, answer in zip(call.items, answers):
            code = answer.get("ErrorCode", -1) if isinstance(answer, dict) else -1
            message_id = str(answer.get("MessageID") or "").strip() if isinstance(answer, dict) else ""
            if code == 0 and message_id:
                results.append(Sent(item.key, provider_id=message_id))
            elif code == 0:
                results.append(InDoubt(item.key, "postmark answered OK for this message without its MessageID; it "
                                                 "may have been accepted, so it is not resent"))
            else:
                message = answer.get("Message", "") if isinstance(answer, dict) else str(answer)
                results.append(Failed(item.key, f"postmark refused this message (ErrorCode {code}): {message}"))
        return results

    def look_up(self, rows: Sequence[Doubt], begin: datetime, end: datetime, search: Search) -> dict[int, str]:
        wanted = {own_id(row.message_id): row.key for row in rows}
        found: dict[int, str] = {}
        offset = 0
        while len(found) < len(wanted):
            if offset + self.page_size > self.search_limit:
                search.cut(f"postmark's search shows at most {self.search_limit} messages")
                break
            page = search.get(f"{self.base_url}/messages/outbound", {
                "count": str(self.page_size), "offset": str(offset), "messagestream": self.stream,
                "fromdate": _eastern(begin), "todate": _eastern(end)})
            messages = page.get("Messages") if isinstance(page, dict) else None
            if not isinstance(messages, list):
                if page is not None:
                    search.cut("postmark's search answer has no Messages list")
                break
            for message in messages:
                metadata = message.get("Metadata") if isinstance(message, dict) else None
                key = wanted.get(str(metadata.get(OWN_ID, ""))) if isinstance(metadata, dict) else None
                if key is not None:
                    found[key] = str(message.get("MessageID", ""))
            offset += len(messages)
            total = page.get("TotalCount")
            if not messages or not isinstance(total, int) or offset >= total:
                break
        return found


#: Postmark reads the dates of its search in US Eastern time.
_POSTMARK_TIME = ZoneInfo("America/New_York")


def _eastern(moment: datetime) -> str:
    return moment.astimezone(_POSTMARK_TIME).strftime("%Y-%m-%dT%H:%M:%S")
