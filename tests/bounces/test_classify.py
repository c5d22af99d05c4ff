"""Malformed or hostile returned mail is left for a human, never a traceback."""

from __future__ import annotations

import email
import os
from datetime import datetime, timezone
from email import policy

import pytest

from newsletter.bounces.classify import classify
from newsletter.config import BounceSettings

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
