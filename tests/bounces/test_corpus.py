"""Returned mail from many servers, read as a mail administrator would read it (``tests/bounces/corpus``).

Each message of the corpus is written in one server's known format, and ``corpus/index.toml`` says
what it means: hard or soft with the reason of the reasons table, a complaint, or nothing (an
auto-reply, a success report, a read receipt). Each reaches us as a real bounce does: addressed to
our VERP address with a subscriber's sealed token, which the test writes in.
"""

from __future__ import annotations

import email
import tomllib
from datetime import date, datetime, timezone
from email import policy
from pathlib import Path

import pytest

from newsletter.core import verp
from newsletter.feedback.mail.classify import classify
from newsletter.config import BounceSettings
from newsletter.store.database import Store
from newsletter.store.feedback import FeedbackKind

CORPUS = Path(__file__).parent / "corpus"
INDEX = tomllib.loads((CORPUS / "index.toml").read_text(encoding="utf-8"))
SETTINGS = BounceSettings(address="bounces@bounce.example.org", unsubscribe_address="unsubscribe@bounce.example.org")
KEY = "corpus-secret-key-" + "9" * 24
ISSUE = date(2026, 11, 26)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
KINDS = {"hard": {FeedbackKind.HARD_BOUNCE}, "soft": {FeedbackKind.SOFT_BOUNCE}, "complaint": {FeedbackKind.COMPLAINT},
         "none": {None}, "soft-or-none": {FeedbackKind.SOFT_BOUNCE, None}}


def routed(name: str, subscriber_id: int) -> bytes:
    """The corpus message as it reaches our mailbox: to the VERP address of ``subscriber_id`` for the issue."""
    token = verp.make_token(KEY, verp.BOUNCE, verp.Tag(subscriber_id, ISSUE))
    assert token is not None
    raw = (CORPUS / f"{name}.eml").read_text(encoding="utf-8")
    return raw.replace("@@VERP@@", verp.tagged(SETTINGS.address, token)).encode("utf-8")


def test_the_index_names_every_message_and_only_them() -> None:
    assert sorted(INDEX) == sorted(p.stem for p in CORPUS.glob("*.eml"))
    assert {entry["expect"] for entry in INDEX.values()} <= set(KINDS)
    servers = {entry["server"] for entry in INDEX.values()}
    assert len(servers) >= 25  # many servers' formats, not one shape many times


def test_every_class_comes_from_several_servers() -> None:
    by_reason: dict[str, set[str]] = {}
    for entry in INDEX.values():
        if entry["reason"]:
            by_reason.setdefault(entry["reason"], set()).add(entry["server"].split()[0])
    for reason in ("user unknown", "host unknown", "mailbox full", "expired", "sender refused", "policy", "spam",
                   "blocked", "auth failure", "rate limited"):
        assert len(by_reason.get(reason, ())) >= 2, reason


@pytest.mark.parametrize("name", sorted(INDEX))
def test_a_returned_message_is_read_as_a_mail_administrator_would(name: str) -> None:
    entry = INDEX[name]
    raw = routed(name, 41)
    verdict = classify(email.message_from_bytes(raw, policy=policy.compat32), raw, SETTINGS, KEY, now=NOW)
    event = verdict.feedback
    assert (event.kind if event else None) in KINDS[entry["expect"]], f"{entry['server']}: {entry['means']}; " \
                                                                     f"got {event or verdict.reason}"
    if event is not None:
        assert (event.subscriber_id, event.issue) == (41, ISSUE)
        assert event.reason == entry["reason"], event.detail


def test_the_whole_corpus_through_the_mailbox_changes_only_those_it_should(tmp_path: Path, store: Store) -> None:
    """Every message in a Maildir, one reader each, processed for real: the hard bounces' readers are
    bounced and the complainers complained; everyone else is still mailed (one soft bounce each)."""
    from newsletter.feedback.mail.mailboxes import MaildirBox
    from newsletter.feedback.mail.process import process_mailbox
    from newsletter.store.subscribers import add_subscriber, find_subscriber

    box = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    readers: dict[str, str] = {}
    for name in sorted(INDEX):
        address = f"{name}@lecteurs.example"
        subscriber, _ = add_subscriber(store, address, now=NOW)
        (box / "new" / f"{name}.eml").write_bytes(routed(name, subscriber.id))
        readers[name] = address
    counts = process_mailbox(store, SETTINGS, MaildirBox(box, "Processed"), secret_key=KEY, now=NOW)
    expected = {"hard": "bounced", "complaint": "complained"}
    for name, address in readers.items():
        found = find_subscriber(store, address)
        assert found is not None and found.status == expected.get(INDEX[name]["expect"], "active"), name
    kinds = [entry["expect"] for entry in INDEX.values()]
    assert counts.hard == kinds.count("hard") and counts.complaints == kinds.count("complaint")
    assert counts.hard + counts.soft + counts.complaints + counts.left == len(INDEX)
    assert counts.left >= kinds.count("none")
