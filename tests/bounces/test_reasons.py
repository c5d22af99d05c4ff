"""The reasons table: codes and phrases read as mail administrators read them; only the address's absence is hard."""

from __future__ import annotations

import pytest

from newsletter.feedback.mail import reasons


@pytest.mark.parametrize("reply, status, hard, word", [
    ("550 5.1.1 <x@example.org>: Recipient address rejected: User unknown", "", True, "user unknown"),
    ("550 Host unknown (Name server: nowhere.example: host not found)", "", True, "host unknown"),
    ("550 5.2.1 The email account that you tried to reach is disabled", "", True, "mailbox disabled"),
    ("552 5.2.2 Mailbox full", "5.0.0", False, "mailbox full"),
    ("maildrop: maildir over quota.", "5.2.0", False, "mailbox full"),
    ("550 5.7.1 Message rejected due to local policy", "5.0.0", False, "policy"),
    ("550 5.1.1 User unknown; 5.7.1 blocked using zen.dnsbl.example", "5.1.1", False, "blocked"),  # soft wins
    ("550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", "", False, "auth failure"),
    ("421 4.7.28 unusual rate of unsolicited mail, rate limited", "", False, "rate limited"),
    ("450 4.1.1 Recipient address rejected: User unknown", "4.1.1", False, "user unknown"),  # 4.x: never hard
    ("550 4.4.7 QUEUE.Expired; message expired", "5.4.7", False, "expired"),
    ("554 Transaction failed", "5.0.0", True, "permanent failure"),
    ("421 Service not available", "", False, "temporary failure"),
])
def test_a_reply_is_read_for_its_reason_and_class(reply: str, status: str, hard: bool, word: str) -> None:
    reading = reasons.read_reply(reply, status=status)
    decided = reasons.decide(list(reading.reasons), reading.permanent)
    assert (decided[0], decided[1].word) == (hard, word)


def test_every_reason_has_its_own_word_and_the_address_only_makes_a_bounce_hard() -> None:
    words = [r.word for r in reasons.TABLE]
    assert len(words) == len(set(words))
    assert {r.word for r in reasons.TABLE if r.hard} == {"user unknown", "host unknown", "mailbox disabled",
                                                          "invalid address", "permanent failure"}


@pytest.mark.parametrize("text, codes", [
    ("relay 192.0.2.10 said 550 5.1.1 (#5.1.1) at 07:20:00 on 2026-11-26", ["5.1.1", "5.1.1"]),
    ("5.6.7.8 is an address, 2.0.0 a success", []),
])
def test_enhanced_codes_are_not_taken_from_addresses_or_successes(text: str, codes: list[str]) -> None:
    assert reasons.enhanced_codes(text) == codes
