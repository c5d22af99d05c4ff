"""Webhook requests as each mail API documents them: payload shapes, event names and authentication.

A :class:`Provider` builds the request its provider would post for one event (``hard``,
``soft``, ``complaint``, ``unsubscribe``, ``delivered`` or an unknown type) about one
recipient, signed or authenticated the provider's way with the secret the test put in the
environment. Sources, read for the shapes (nothing copied): Mailgun "Securing Webhooks" and
"Tracking failures" (event-data, severity), SendGrid "Event Webhook Reference" and "Getting
Started with the Event Webhook Security Features", Postmark "Webhooks" (Bounce,
SpamComplaint, SubscriptionChange records), Brevo "Transactional webhooks" and "Secure
webhook calls".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAILGUN_KEY = "mailgun-signing-key-" + "5f" * 12
POSTMARK_CREDENTIALS = "postmark:" + "7c" * 12
BREVO_SECRET = "brevo-secret-" + "3a" * 12


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes


@dataclass
class Provider:
    """Builds one provider's webhook requests. ``env`` is what the service's environment must hold."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    key: str = ""  # the key of [webhooks.NAME] naming the variable
    variable: str = ""
    old_key: str = ""  # the flat [webhooks] key of the first versions

    @property
    def config(self) -> str:
        """The ``[webhooks.NAME]`` table that turns the webhook on (after the ``[webhooks]`` keys)."""
        return f'[webhooks.{self.name}]\n{self.key} = "{self.variable}"\n'

    @property
    def old_config(self) -> str:
        """The same, as the flat ``[webhooks]`` key of the first versions."""
        return f'{self.old_key} = "{self.variable}"\n'

    def request(self, kind: str, email: str, *, message_id: str = "", own: str = "", at: datetime,
                event_id: str = "ev-1", signed_at: datetime | None = None, forged: bool = False) -> Request:
        raise NotImplementedError

    def raw(self, body: bytes, *, signed_at: datetime, forged: bool = False) -> Request:
        """An arbitrary body, authenticated as the provider would (when the scheme allows it)."""
        raise NotImplementedError


class Mailgun(Provider):
    def __init__(self) -> None:
        super().__init__("mailgun", {"MG_SIGNING_KEY": MAILGUN_KEY}, "signing_key_env", "MG_SIGNING_KEY",
                         "mailgun_signing_key_env")

    @staticmethod
    def signature(timestamp: int, token: str, key: str = MAILGUN_KEY) -> dict[str, str]:
        digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
        return {"timestamp": str(timestamp), "token": token, "signature": digest}

    def event_data(self, kind: str, email: str, message_id: str, own: str, at: datetime, event_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": event_id, "timestamp": at.timestamp(), "recipient": email, "log-level": "error",
            "message": {"headers": {"message-id": message_id.strip("<>"), "to": email, "subject": "Objet"}},
            "user-variables": {"newsletter_msg": own} if own else {}, "tags": [],
        }
        if kind in ("hard", "soft"):
            data.update(event="failed", severity="permanent" if kind == "hard" else "temporary",
                        reason="bounce" if kind == "hard" else "generic",
                        **{"delivery-status": {"code": 550 if kind == "hard" else 452,
                                               "message": "5.1.1 mailbox unknown" if kind == "hard" else "4.2.2 full",
                                               "description": ""}})
        else:
            data["event"] = {"complaint": "complained", "unsubscribe": "unsubscribed",
                             "delivered": "delivered"}.get(kind, kind)
        return data

    def request(self, kind: str, email: str, *, message_id: str = "", own: str = "", at: datetime,
                event_id: str = "ev-1", signed_at: datetime | None = None, forged: bool = False,
                token: str | None = None) -> Request:
        stamp = int((signed_at or at).timestamp())
        signature = self.signature(stamp, token or secrets.token_hex(25), "not-the-key" if forged else MAILGUN_KEY)
        body = {"signature": signature, "event-data": self.event_data(kind, email, message_id, own, at, event_id)}
        return Request({"Content-Type": "application/json"}, json.dumps(body).encode())

    def raw(self, body: bytes, *, signed_at: datetime, forged: bool = False) -> Request:
        return Request({"Content-Type": "application/json"}, body)


class SendGrid(Provider):
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        public = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        super().__init__("sendgrid", {"SG_VERIFICATION_KEY": base64.b64encode(public).decode()},
                         "public_key_env", "SG_VERIFICATION_KEY", "sendgrid_public_key_env")

    def raw(self, body: bytes, *, signed_at: datetime, forged: bool = False) -> Request:
        stamp = str(int(signed_at.timestamp()))
        signer = ec.generate_private_key(ec.SECP256R1()) if forged else self.private
        signature = signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return Request({"Content-Type": "application/json",
                        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                        "X-Twilio-Email-Event-Webhook-Timestamp": stamp}, body)

    @staticmethod
    def event(kind: str, email: str, message_id: str, own: str, at: datetime, event_id: str) -> dict[str, Any]:
        event: dict[str, Any] = {"email": email, "timestamp": int(at.timestamp()), "sg_event_id": event_id,
                                 "sg_message_id": f"{message_id}.filterdrecv-5645d9c87f-abcde-1-5F0F1A3B-2.0"
                                 if message_id else "", "smtp-id": "<x@ismtpd0001p1iad2.sendgrid.net>"}
        if own:
            event["newsletter_msg"] = own  # custom_args come back as top-level fields
        if kind in ("hard", "soft"):
            event.update(event="bounce", type="bounce" if kind == "hard" else "blocked",
                         status="5.1.1" if kind == "hard" else "4.7.1", reason="550 5.1.1 unknown user")
        else:
            event["event"] = {"complaint": "spamreport", "unsubscribe": "unsubscribe",
                              "delivered": "delivered"}.get(kind, kind)
        return event

    def request(self, kind: str, email: str, *, message_id: str = "", own: str = "", at: datetime,
                event_id: str = "ev-1", signed_at: datetime | None = None, forged: bool = False) -> Request:
        body = json.dumps([self.event(kind, email, message_id, own, at, event_id)]).encode()
        return self.raw(body, signed_at=signed_at or at, forged=forged)


class Postmark(Provider):
    def __init__(self) -> None:
        super().__init__("postmark", {"PM_WEBHOOK_AUTH": POSTMARK_CREDENTIALS},
                         "credentials_env", "PM_WEBHOOK_AUTH", "postmark_credentials_env")

    def raw(self, body: bytes, *, signed_at: datetime, forged: bool = False) -> Request:
        credentials = "postmark:wrong-password-000000" if forged else POSTMARK_CREDENTIALS
        return Request({"Content-Type": "application/json",
                        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}, body)

    @staticmethod
    def record(kind: str, email: str, message_id: str, own: str, at: datetime, event_id: str) -> dict[str, Any]:
        metadata = {"newsletter_msg": own} if own else {}
        stamp = at.isoformat(timespec="microseconds").replace("+00:00", "Z")
        if kind == "unsubscribe":
            return {"RecordType": "SubscriptionChange", "MessageID": message_id, "ServerID": 23,
                    "MessageStream": "broadcast", "ChangedAt": stamp, "Recipient": email,
                    "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": "ManualSuppression",
                    "Tag": "", "Metadata": metadata}
        if kind == "complaint":
            return {"RecordType": "SpamComplaint", "ID": event_id, "Type": "SpamComplaint", "TypeCode": 512,
                    "MessageID": message_id, "Email": email, "BouncedAt": stamp, "Metadata": metadata,
                    "MessageStream": "broadcast", "Details": "", "Subject": "Objet"}
        if kind == "delivered":
            return {"RecordType": "Delivery", "MessageID": message_id, "Recipient": email, "DeliveredAt": stamp,
                    "Metadata": metadata, "MessageStream": "broadcast"}
        if kind in ("hard", "soft"):
            return {"RecordType": "Bounce", "ID": event_id, "Type": "HardBounce" if kind == "hard" else "SoftBounce",
                    "TypeCode": 1 if kind == "hard" else 4096, "Name": "Hard bounce", "MessageID": message_id,
                    "Description": "The server was unable to deliver your message", "Details": "550 5.1.1",
                    "Email": email, "From": "redaction@example.org", "BouncedAt": stamp, "Inactive": kind == "hard",
                    "CanActivate": True, "Subject": "Objet", "Metadata": metadata, "MessageStream": "broadcast"}
        return {"RecordType": kind, "MessageID": message_id, "Email": email}

    def request(self, kind: str, email: str, *, message_id: str = "", own: str = "", at: datetime,
                event_id: str = "ev-1", signed_at: datetime | None = None, forged: bool = False) -> Request:
        body = json.dumps(self.record(kind, email, message_id, own, at, event_id)).encode()
        return self.raw(body, signed_at=signed_at or at, forged=forged)


class Brevo(Provider):
    def __init__(self, bearer: bool = True) -> None:
        super().__init__("brevo", {"BREVO_WEBHOOK_SECRET": BREVO_SECRET}, "token_env", "BREVO_WEBHOOK_SECRET",
                         "brevo_token_env")
        self.bearer = bearer

    def raw(self, body: bytes, *, signed_at: datetime, forged: bool = False) -> Request:
        secret = "not-the-secret-0000000000" if forged else BREVO_SECRET
        if self.bearer:  # "auth": {"type": "bearer", "token": …} given when the webhook was created
            authorization = f"Bearer {secret}"
        else:  # https://user:secret@host/… in the notify URL
            authorization = "Basic " + base64.b64encode(f"brevo:{secret}".encode()).decode()
        return Request({"Content-Type": "application/json", "Authorization": authorization}, body)

    @staticmethod
    def event(kind: str, email: str, message_id: str, own: str, at: datetime, event_id: str) -> dict[str, Any]:
        name = {"hard": "hard_bounce", "soft": "soft_bounce", "complaint": "spam", "unsubscribe": "unsubscribed",
                "delivered": "delivered"}.get(kind, kind)
        event: dict[str, Any] = {"event": name, "email": email, "id": 1234, "date": "2026-11-24 10:00:00",
                                 "ts": int(at.timestamp()), "message-id": message_id, "ts_event": int(at.timestamp()),
                                 "subject": "Objet", "tag": "", "sending_ip": "185.41.28.109",
                                 "ts_epoch": int(at.timestamp() * 1000) + len(event_id), "tags": []}
        if own:
            event["X-Mailin-custom"] = own
        if kind in ("hard", "soft"):
            event["reason"] = "550 5.1.1 unknown user" if kind == "hard" else "452 mailbox full"
        return event

    def request(self, kind: str, email: str, *, message_id: str = "", own: str = "", at: datetime,
                event_id: str = "ev-1", signed_at: datetime | None = None, forged: bool = False) -> Request:
        body = json.dumps(self.event(kind, email, message_id, own, at, event_id)).encode()
        return self.raw(body, signed_at=signed_at or at, forged=forged)


PROVIDERS = {"mailgun": Mailgun, "sendgrid": SendGrid, "postmark": Postmark, "brevo": Brevo}
