"""What a returned message means: hard or soft by its DSN status; malformed or hostile mail is left for a human."""

from __future__ import annotations

import email
import os
from datetime import date, datetime, timezone
from email import policy

import pytest

from newsletter.core import verp
from newsletter.feedback.mail.classify import classify
from newsletter.config import BounceSettings
from newsletter.store.feedback import FeedbackKind
from tests.bounces import mails

SETTINGS = BounceSettings(address="bounces@bounce.example.org", unsubscribe_address="unsubscribe@bounce.example.org")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
TOKEN = "a" * 36

MALFORMED = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "report without boundary": b"Delivered-To: bounces+" + TOKEN.encode() + b"@bounce.example.org\n"
                               b"Content-Type: multipart/report; report-type=delivery-status\n\nno parts\n",
    "feedback report without parts": b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n"
                                     b"--x\nContent-Type: message/feedback-report\n\n--x--\n",
    "non-ascii headers": "Delivered-To: bounces+été@bounce.example.org\nDate: lundi\nSubject: é\n\n".encode("latin-1"),
    "dsn with garbage fields": b"Delivered-To: bounces+" + TOKEN.encode() + b"@bounce.example.org\n"
                               b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n"
                               b"Content-Type: message/delivery-status\n\nAction: \xff\nStatus: 9.9\n\n--b--\n",
    "random": os.urandom(2048),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_mail_is_left_for_a_human(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    verdict = classify(msg, raw, SETTINGS, "k" * 40, now=NOW)
    assert verdict.feedback is None and verdict.reason


@pytest.mark.parametrize(("action", "status", "kind"), [
    ("failed", "5.1.1", FeedbackKind.HARD_BOUNCE),  # no such mailbox
    ("failed", "5.0.0", FeedbackKind.HARD_BOUNCE),
    ("failed", "4.4.7", FeedbackKind.SOFT_BOUNCE),  # the MTA gave up on a temporary failure
    ("delayed", "4.4.1", FeedbackKind.SOFT_BOUNCE),
    ("failed", "5.7.1", FeedbackKind.SOFT_BOUNCE),  # the receiver's policy refuses the sender, not the address
    ("failed", "5.2.2", FeedbackKind.SOFT_BOUNCE),  # mailbox full
])
def test_the_dsn_status_decides_hard_or_soft(action: str, status: str, kind: FeedbackKind) -> None:
    key = "k" * 40
    token = verp.make_token(key, verp.BOUNCE, verp.Tag(7, date(2026, 11, 26)))
    assert token is not None
    raw = mails.dsn(verp.tagged(SETTINGS.address, token), "x@destinataire.example", status=status, action=action)
    verdict = classify(email.message_from_bytes(raw, policy=policy.compat32), raw, SETTINGS, key, now=NOW)
    assert verdict.feedback is not None
    assert (verdict.feedback.kind, verdict.feedback.subscriber_id, verdict.feedback.issue) == (kind, 7, date(2026, 11, 26))
    assert verdict.feedback.detail.startswith(status)


@pytest.mark.parametrize(("status", "diagnostic", "kind", "reason"), [
    # A Diagnostic-Code without its type, whose text holds a ";": the receiver's code is still read.
    ("5.0.0", "550 5.2.2 {r}: mailbox full; try again later", FeedbackKind.SOFT_BOUNCE, "mailbox full"),
    ("5.0.0", "smtp; 550 5.7.1 {r}: Recipient address rejected: Access denied", FeedbackKind.SOFT_BOUNCE, "policy"),
    ("5.0.0", "smtp; 550 {r}: unknown user", FeedbackKind.HARD_BOUNCE, "user unknown"),
    ("5.0.0", "smtp; 554 5.0.0 Transaction failed", FeedbackKind.HARD_BOUNCE, "permanent failure"),
    # Failed on a temporary refusal: the queue gave up; never hard, whatever the refusal says.
    ("4.1.1", "smtp; 450 4.1.1 {r}: Recipient address rejected: unverified address", FeedbackKind.SOFT_BOUNCE,
     "expired"),
])
def test_the_diagnostic_code_is_read_with_the_status(status: str, diagnostic: str, kind: FeedbackKind,
                                                     reason: str) -> None:
    key = "k" * 40
    token = verp.make_token(key, verp.BOUNCE, verp.Tag(7, date(2026, 11, 26)))
    assert token is not None
    raw = mails.dsn(verp.tagged(SETTINGS.address, token), "x@destinataire.example", status=status,
                    diagnostic=diagnostic)
    verdict = classify(email.message_from_bytes(raw, policy=policy.compat32), raw, SETTINGS, key, now=NOW)
    assert verdict.feedback is not None and (verdict.feedback.kind, verdict.feedback.reason) == (kind, reason)


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_a_success_report_changes_nobody(action: str) -> None:
    key = "k" * 40
    token = verp.make_token(key, verp.BOUNCE, verp.Tag(7, date(2026, 11, 26)))
    assert token is not None
    raw = mails.dsn(verp.tagged(SETTINGS.address, token), "x@destinataire.example", status="2.0.0", action=action,
                    diagnostic="smtp; 250 2.0.0 Ok: queued")
    verdict = classify(email.message_from_bytes(raw, policy=policy.compat32), raw, SETTINGS, key, now=NOW)
    assert verdict.feedback is None
