"""The ``postmark`` adapter: Postmark's batch endpoint, up to 500 finished messages per call.

Postmark takes complete messages, so each recipient's HTML and text are filled in here (one
substitution each) and sent in batches of at most 500 messages and 50 MB. The answer holds
one result per message, in order; a message refused inside an accepted call (inactive
recipient, invalid address) fails alone. Postmark has no idempotency key: a call left
without an answer is recorded as uncertain.
"""

from __future__ import annotations

import json
from email.utils import formataddr
from typing import Any, Mapping, Sequence

import requests

from newsletter.config import Settings
from newsletter.delivery.api import ApiAdapter, Call
from newsletter.delivery.base import Failed, InDoubt, Outgoing, Result, Sent, register, text_option
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

    def accepted(self, call: Call, response: requests.Response) -> list[Result]:
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if not isinstance(answers, list) or len(answers) != len(call.items):
            # Accepted, but the answer cannot be matched to the messages: do not resend.
            return [InDoubt(item.key, f"postmark accepted the call but its answer is unreadable: "
                                      f"{response.text[:200]!r}") for item in call.items]
        results: list[Result] = []
        for item, answer in zip(call.items, answers):
            code = answer.get("ErrorCode", -1) if isinstance(answer, dict) else -1
            if code == 0:
                results.append(Sent(item.key, provider_id=str(answer.get("MessageID", ""))))
            else:
                message = answer.get("Message", "") if isinstance(answer, dict) else str(answer)
                results.append(Failed(item.key, f"postmark refused this message (ErrorCode {code}): {message}"))
        return results
