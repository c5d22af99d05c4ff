"""Each provider's documented event types map to the right kind of feedback (or to nothing)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

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
    ({"event": "account_status_change"}, "unknown"),
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
    ({"RecordType": "Bounce", "Type": "DMARCPolicy", "TypeCode": 100009}, "ignored"),
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
    ("2026-13-45." + "0f" * 12, None), ("anything", None), (42, None), (None, None),
])
def test_our_own_id_names_the_issue(value: Any, expected: date | None) -> None:
    assert issue_of(value) == expected


def test_our_own_id_fits_postmark_metadata() -> None:
    long_domain = "x" * 60 + ".example.org"
    value = own_id(f"<2026-11-24.{'0f' * 12}@{long_domain}>")
    assert value == f"2026-11-24.{'0f' * 12}" and len(value) <= 80 and issue_of(value) == date(2026, 11, 24)
