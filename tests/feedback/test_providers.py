"""Each provider's documented event types map to the right kind of feedback (or to nothing)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from newsletter.core.issue_id import IssueId
from newsletter.feedback import issue_of, own_id
from newsletter.providers.brevo import events as brevo
from newsletter.providers.mailgun import events as mailgun
from newsletter.providers.postmark import events as postmark
from newsletter.providers.sendgrid import events as sendgrid
from newsletter.store.feedback import FeedbackKind

HARD, SOFT = FeedbackKind.HARD_BOUNCE, FeedbackKind.SOFT_BOUNCE
COMPLAINT, UNSUB = FeedbackKind.COMPLAINT, FeedbackKind.UNSUBSCRIBE
AT = 1795510800  # 2026-11-24 06:20 UTC


def kinds(parsed: Any) -> list[FeedbackKind] | str:
    if parsed.feedback:
        return [f.kind for f in parsed.feedback]
    return "ignored" if parsed.ignored else "unknown"


@pytest.mark.parametrize("fields, expected", [
    ({"event": "failed", "severity": "permanent", "reason": "bounce"}, [HARD]),
    ({"event": "failed", "severity": "permanent", "reason": "suppress-bounce"}, [HARD]),
    ({"event": "failed", "severity": "permanent", "reason": "suppress-complaint"}, [COMPLAINT]),
    ({"event": "failed", "severity": "permanent", "reason": "suppress-unsubscribe"}, [UNSUB]),
    ({"event": "failed", "severity": "temporary", "reason": "generic"}, [SOFT]),
    ({"event": "complained"}, [COMPLAINT]),
    ({"event": "unsubscribed"}, [UNSUB]),
    ({"event": "delivered"}, "ignored"),
    ({"event": "opened"}, "ignored"),
    ({"event": "teleported"}, "unknown"),
])
def test_mailgun_events(fields: dict[str, Any], expected: Any) -> None:
    data = {"id": "Ase7i2zsRYeDXztHGENqRA", "timestamp": AT + 0.5, "recipient": "lea@example.org", **fields}
    assert kinds(mailgun.parse({"event-data": data})) == expected


@pytest.mark.parametrize("fields, expected", [
    ({"event": "bounce", "type": "bounce"}, [HARD]),
    ({"event": "bounce", "type": "blocked"}, [SOFT]),
    ({"event": "dropped", "reason": "Bounced Address"}, [HARD]),
    ({"event": "dropped", "reason": "Invalid"}, [HARD]),
    ({"event": "dropped", "reason": "Spam Reporting Address"}, [COMPLAINT]),
    ({"event": "dropped", "reason": "Unsubscribed Address"}, [UNSUB]),
    ({"event": "dropped", "reason": "Spam Content (if spam checker app enabled)"}, "ignored"),
    ({"event": "spamreport"}, [COMPLAINT]),
    ({"event": "unsubscribe"}, [UNSUB]),
    ({"event": "group_unsubscribe", "asm_group_id": 1}, [UNSUB]),
    ({"event": "deferred", "attempt": "3"}, "ignored"),
    ({"event": "delivered"}, "ignored"),
    ({"event": "group_resubscribe"}, "ignored"),
    ({"event": "account_status_change"}, "ignored"),  # documented since: an event about the sending account
])
def test_sendgrid_events(fields: dict[str, Any], expected: Any) -> None:
    event = {"email": "lea@example.org", "timestamp": AT, "sg_event_id": "sg-1",
             "sg_message_id": "14c5d75ce93.dfd.64b469.filterdrecv-1.0", **fields}
    parsed = sendgrid.parse([event])
    assert kinds(parsed) == expected
    if parsed.feedback:  # the X-Message-Id the send got back, without SendGrid's suffix
        assert parsed.feedback[0].provider_message_id == "14c5d75ce93.dfd.64b469"


@pytest.mark.parametrize("record, expected", [
    ({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1}, [HARD]),
    ({"RecordType": "Bounce", "Type": "BadEmailAddress", "TypeCode": 100000}, [HARD]),
    ({"RecordType": "Bounce", "Type": "SoftBounce", "TypeCode": 4096}, [SOFT]),
    ({"RecordType": "Bounce", "Type": "Transient", "TypeCode": 2}, [SOFT]),
    ({"RecordType": "Bounce", "Type": "DnsError", "TypeCode": 256}, [SOFT]),
    ({"RecordType": "Bounce", "Type": "Unsubscribe", "TypeCode": 16}, [UNSUB]),
    ({"RecordType": "Bounce", "Type": "AutoResponder", "TypeCode": 64}, "ignored"),
    ({"RecordType": "Bounce", "Type": "DMARCPolicy", "TypeCode": 100009}, [SOFT]),  # the receiver refused our sender
    ({"RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512}, [COMPLAINT]),
    ({"RecordType": "SubscriptionChange", "SuppressSending": True, "SuppressionReason": "ManualSuppression",
      "ChangedAt": "2026-11-24T06:20:00Z", "Recipient": "lea@example.org"}, [UNSUB]),
    ({"RecordType": "SubscriptionChange", "SuppressSending": True, "SuppressionReason": "HardBounce",
      "ChangedAt": "2026-11-24T06:20:00Z", "Recipient": "lea@example.org"}, [HARD]),
    ({"RecordType": "SubscriptionChange", "SuppressSending": False, "SuppressionReason": None,
      "ChangedAt": "2026-11-24T06:20:00Z", "Recipient": "lea@example.org"}, "ignored"),  # reactivated: not here
    ({"RecordType": "Open"}, "ignored"),
    ({"RecordType": "Telepathy"}, "unknown"),
])
def test_postmark_records(record: dict[str, Any], expected: Any) -> None:
    full = {"ID": 4323372036854775807, "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "lea@example.org",
            "BouncedAt": "2026-11-24T07:20:10.2735393+01:00", **record}
    parsed = postmark.parse(full)
    assert kinds(parsed) == expected
    if parsed.feedback:  # Postmark's local time with seven decimals, read as the same instant
        assert parsed.feedback[0].occurred_at == datetime(2026, 11, 24, 6, 20, 10, 273539, tzinfo=timezone.utc)


@pytest.mark.parametrize("name, expected", [
    ("hard_bounce", [HARD]), ("invalid_email", [HARD]), ("soft_bounce", [SOFT]), ("spam", [COMPLAINT]),
    ("unsubscribed", [UNSUB]), ("delivered", "ignored"), ("blocked", "ignored"), ("deferred", "ignored"),
    ("unique_opened", "ignored"), ("something_new", "unknown"),
])
def test_brevo_events(name: str, expected: Any) -> None:
    event = {"event": name, "email": "lea@example.org", "message-id": "<2026@smtp-relay.mailin.fr>",
             "ts_event": AT, "ts_epoch": AT * 1000}
    assert kinds(brevo.parse([event])) == expected


def test_brevo_events_without_an_id_get_a_stable_one_that_differs_per_event() -> None:
    event = {"event": "soft_bounce", "email": "lea@example.org", "message-id": "<m@x>", "ts_event": AT}
    first, again = brevo.parse([event]).feedback[0], brevo.parse([dict(event)]).feedback[0]
    later = brevo.parse([{**event, "ts_event": AT + 60}]).feedback[0]
    assert first.event_id == again.event_id != later.event_id


@pytest.mark.parametrize("value, expected", [
    ("2026-11-24." + "0f" * 12, date(2026, 11, 24)),
    ("<2026-11-24." + "0f" * 12 + "@example.org>", date(2026, 11, 24)),
    ("2026-11-24.test." + "0f" * 16, None),  # a test copy names no issue of the ledger
    ("2026-11-24.correction2." + "0f" * 12, date(2026, 11, 24)),  # a correction mail is about its issue
    ("2026-11-24-speciale.correction1." + "0f" * 12, IssueId(date(2026, 11, 24), slug="speciale")),
    ("2026-13-45." + "0f" * 12, None), ("anything", None), (42, None), (None, None),
])
def test_our_own_id_names_the_issue(value: Any, expected: date | None) -> None:
    assert issue_of(value) == expected


def test_our_own_id_fits_postmark_metadata() -> None:
    long_domain = "x" * 60 + ".example.org"
    value = own_id(f"<2026-11-24.{'0f' * 12}@{long_domain}>")
    assert value == f"2026-11-24.{'0f' * 12}" and len(value) <= 80 and issue_of(value) == date(2026, 11, 24)


# -- every event type each provider documents today, with its old and new names ----------------------------------

def reasons(parsed: Any) -> list[str]:
    return [f.reason for f in parsed.feedback]


@pytest.mark.parametrize("fields, expected, reason", [
    ({"event": "failed", "severity": "permanent", "reason": "bounce",
      "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"}}, [HARD], "user unknown"),
    ({"event": "failed", "severity": "permanent", "reason": "generic", "delivery-status": {"code": 550}}, [HARD],
     "permanent failure"),
    ({"event": "failed", "severity": "permanent", "reason": "old"}, [SOFT], "expired"),  # retries given up
    ({"event": "failed", "severity": "permanent", "reason": "espblock"}, [SOFT], "blocked"),
    ({"event": "failed", "severity": "temporary", "reason": "generic",
      "delivery-status": {"code": 452, "message": "4.2.2 The recipient's inbox is out of storage space"}}, [SOFT],
     "mailbox full"),
    ({"event": "failed", "severity": "temporary", "reason": "greylisted"}, [SOFT], "temporary failure"),
    ({"event": "failed"}, "unknown", None),  # no severity: not guessed
    ({"event": "bounced"}, [HARD], "permanent failure"),  # the legacy webhooks' names
    ({"event": "dropped", "reason": "hardfail"}, [HARD], "permanent failure"),
    ({"event": "dropped", "reason": "old"}, [SOFT], "expired"),
    ({"event": "dropped", "reason": "suppress-unsubscribe"}, [UNSUB], ""),
    ({"event": "permanent_fail"}, [HARD], "permanent failure"),  # the webhook settings' names
    ({"event": "temporary_fail"}, [SOFT], "temporary failure"),
    ({"event": "complained"}, [COMPLAINT], ""),
    ({"event": "unsubscribed"}, [UNSUB], ""),
    *[({"event": name}, "ignored", None) for name in ("accepted", "rejected", "delivered", "opened", "clicked",
                                                      "stored", "list_member_uploaded", "list_member_upload_error",
                                                      "list_uploaded")],
])
def test_every_mailgun_event_type(fields: dict[str, Any], expected: Any, reason: str | None) -> None:
    data = {"id": "Ase7i2zsRYeDXztHGENqRA", "timestamp": AT + 0.5, "recipient": "lea@example.org", **fields}
    parsed = mailgun.parse({"event-data": data})
    assert kinds(parsed) == expected
    if reason is not None:
        assert reasons(parsed) == [reason]


@pytest.mark.parametrize("fields, expected, reason", [
    ({"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 The email account that you tried "
      "to reach does not exist", "bounce_classification": "Invalid Address"}, [HARD], "invalid address"),
    ({"event": "bounce", "type": "bounce", "status": "5.0.0", "reason": "550 No such user here"}, [HARD],
     "user unknown"),
    ({"event": "bounce", "type": "blocked", "status": "5.7.1", "reason": "554 5.7.1 Service unavailable; Client host "
      "blocked using a DNSBL", "bounce_classification": "Reputation"}, [SOFT], "blocked"),
    ({"event": "bounce", "type": "blocked", "status": "4.2.2", "reason": "452 4.2.2 mailbox full"}, [SOFT],
     "mailbox full"),
    ({"event": "bounce", "type": "expired", "reason": "Message expired after 72 hours"}, [SOFT], "expired"),
    ({"event": "dropped", "reason": "Bounced Address"}, [HARD], "permanent failure"),
    ({"event": "dropped", "reason": "Invalid"}, [HARD], "permanent failure"),
    ({"event": "dropped", "reason": "Spam Reporting Address"}, [COMPLAINT], ""),
    ({"event": "dropped", "reason": "Unsubscribed Address"}, [UNSUB], ""),
    ({"event": "dropped", "reason": "Invalid SMTPAPI header"}, "ignored", None),
    ({"event": "dropped", "reason": "Recipient List over Package Quota"}, "ignored", None),
    ({"event": "spamreport"}, [COMPLAINT], ""),
    ({"event": "unsubscribe"}, [UNSUB], ""),
    ({"event": "group_unsubscribe", "asm_group_id": 1}, [UNSUB], ""),
    ({"event": "account_status_change", "type": "compliance_suspend"}, "ignored", None),  # about the account
    *[({"event": name}, "ignored", None) for name in ("processed", "deferred", "delivered", "open", "click",
                                                      "group_resubscribe")],
    ({"event": "teleport"}, "unknown", None),
])
def test_every_sendgrid_event_type(fields: dict[str, Any], expected: Any, reason: str | None) -> None:
    event = {"email": "lea@example.org", "timestamp": AT, "sg_event_id": "sg-1",
             "sg_message_id": "14c5d75ce93.dfd.64b469.filterdrecv-1.0", **fields}
    parsed = sendgrid.parse([event])
    assert kinds(parsed) == expected
    if reason is not None:
        assert reasons(parsed) == [reason]


POSTMARK_BOUNCE_TYPES = {  # every Type of Postmark's Bounce API, with its TypeCode
    "HardBounce": (1, [HARD], "user unknown"), "Transient": (2, [SOFT], "delayed"),
    "Unsubscribe": (16, [UNSUB], ""), "Subscribe": (32, "ignored", None), "AutoResponder": (64, "ignored", None),
    "AddressChange": (128, "ignored", None), "DnsError": (256, [SOFT], "connection failed"),
    "SpamNotification": (512, [SOFT], "spam"), "OpenRelayTest": (1024, "ignored", None),
    "Unknown": (2048, "ignored", None), "SoftBounce": (4096, [SOFT], "mailbox full"),
    "VirusNotification": (8192, "ignored", None), "ChallengeVerification": (16384, "ignored", None),
    "BadEmailAddress": (100000, [HARD], "invalid address"), "SpamComplaint": (100001, [COMPLAINT], ""),
    "ManuallyDeactivated": (100002, "ignored", None), "Unconfirmed": (100003, "ignored", None),
    "Blocked": (100006, [SOFT], "blocked"), "SMTPApiError": (100007, "ignored", None),
    "InboundError": (100008, "ignored", None), "DMARCPolicy": (100009, [SOFT], "auth failure"),
    "TemplateRenderingFailed": (100010, "ignored", None), "Teleported": (999999, "unknown", None),
}


@pytest.mark.parametrize("bounce_type", sorted(POSTMARK_BOUNCE_TYPES))
def test_every_postmark_bounce_type(bounce_type: str) -> None:
    code, expected, reason = POSTMARK_BOUNCE_TYPES[bounce_type]
    details = {"HardBounce": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
               "SoftBounce": "smtp;452 4.2.2 The recipient's inbox is out of storage space"}.get(bounce_type, "")
    parsed = postmark.parse({"RecordType": "Bounce", "ID": 42, "Type": bounce_type, "TypeCode": code,
                             "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "lea@example.org",
                             "BouncedAt": "2026-11-24T07:20:10Z", "Details": details})
    assert kinds(parsed) == expected
    if reason is not None:
        assert reasons(parsed) == [reason]


@pytest.mark.parametrize("record_type, expected", [("Delivery", "ignored"), ("Open", "ignored"), ("Click", "ignored"),
                                                   ("Inbound", "ignored"), ("SpamComplaint", [COMPLAINT]),
                                                   ("Telepathy", "unknown")])
def test_every_postmark_record_type(record_type: str, expected: Any) -> None:
    parsed = postmark.parse({"RecordType": record_type, "ID": 7, "Type": "SpamComplaint", "MessageID": "m",
                             "Email": "lea@example.org", "BouncedAt": "2026-11-24T07:20:10Z"})
    assert kinds(parsed) == expected


def test_a_postmark_unsubscribe_without_address_or_time_is_the_messages_reader_now() -> None:
    """Known in the field: Type Unsubscribe with no Email and no BouncedAt; its MessageID names the reader."""
    received = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
    (event,) = postmark.parse({"RecordType": "Bounce", "ID": 4323, "Type": "Unsubscribe", "TypeCode": 16,
                               "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "",
                               "Description": "The recipient unsubscribed"}, now=received).feedback
    assert (event.kind, event.email, event.provider_message_id, event.occurred_at) == \
        (UNSUB, None, "883953f4-6105-42a2-a16a-77a8eac79483", received)


@pytest.mark.parametrize("record", [
    {"RecordType": "Bounce", "ID": 1, "Type": "Unsubscribe", "Email": ""},  # nothing names the reader
    {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "MessageID": "m", "BouncedAt": "2026-11-24T07:20:10Z"},
])
def test_a_postmark_record_naming_nobody_is_refused(record: dict[str, Any]) -> None:
    from newsletter.feedback import WebhookRefused

    with pytest.raises(WebhookRefused):
        postmark.parse(record, now=datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))


@pytest.mark.parametrize("name, expected, reason", [
    ("hard_bounce", [HARD], "user unknown"), ("hardBounce", [HARD], "user unknown"),
    ("invalid_email", [HARD], "user unknown"), ("invalid", [HARD], "user unknown"),
    ("soft_bounce", [SOFT], "mailbox full"), ("softBounce", [SOFT], "mailbox full"),
    ("spam", [COMPLAINT], ""), ("complaint", [COMPLAINT], ""),
    ("unsubscribed", [UNSUB], ""), ("unsubscribe", [UNSUB], ""),
    *[(name, "ignored", None) for name in ("request", "sent", "delivered", "deferred", "opened", "unique_opened",
                                           "uniqueOpened", "proxy_open", "unique_proxy_open", "click", "blocked",
                                           "error", "list_addition", "listAddition", "contact_updated",
                                           "contact_deleted")],
    ("something_new", "unknown", None),
])
def test_every_brevo_event_type(name: str, expected: Any, reason: str | None) -> None:
    event = {"event": name, "email": "lea@example.org", "message-id": "<2026@smtp-relay.mailin.fr>",
             "ts_event": AT, "ts_epoch": AT * 1000,
             "reason": "452 4.2.2 mailbox full" if "soft" in name.lower() else "550 5.1.1 user unknown"}
    parsed = brevo.parse([event])
    assert kinds(parsed) == expected
    if reason is not None:
        assert reasons(parsed) == [reason]
