"""Deliverability headers of every issue message: Feedback-ID, no auto-replies, an opaque reference for replies."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.render.mime import REFERENCE_HEADER, MessageFactory, Recipient, reply_reference
from newsletter.render.pipeline import RenderedIssue, render_issue
from newsletter.core.tokens import UNSUBSCRIBE, make_token
from tests.conftest import DAY, SECRET
from tests.helpers.messages import read_reply_reference

WHEN = datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("Europe/Paris"))
PEOPLE = ["zoe.durand@example.org", "paul.lefèvre@exämple.fr"]


@pytest.fixture
def rendered(settings: Settings) -> RenderedIssue:
    return render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)


def headers(rendered: RenderedIssue, settings: Settings, address: str, prefix: str = "") -> email.message.Message:
    factory = MessageFactory(rendered, settings, secret_key=SECRET, date=WHEN, subject_prefix=prefix)
    raw = factory.build(Recipient(address, "Zoé")).data
    return email.message_from_bytes(raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n", policy=email.policy.compat32)


@pytest.mark.parametrize(("prefix", "mailtype"), [("", "issue"), ("[TEST] ", "proof")], ids=["issue", "test copy"])
def test_feedback_id_names_issue_list_type_and_sender_for_gmail(rendered: RenderedIssue, settings: Settings,
                                                               prefix: str, mailtype: str) -> None:
    msg = headers(rendered, settings, PEOPLE[0], prefix)
    assert msg["Feedback-ID"] == f"20261124:5-infos-relation-client:{mailtype}:example.org"
    assert msg["X-Auto-Response-Suppress"] == "OOF, AutoReply"


def test_mail_apis_get_the_same_constant_headers(rendered: RenderedIssue, settings: Settings) -> None:
    layout = dict(MessageFactory(rendered, settings, secret_key=SECRET, date=WHEN).layout.headers)
    assert layout["Feedback-ID"] == "20261124:5-infos-relation-client:issue:example.org"
    assert layout["X-Auto-Response-Suppress"] == "OOF, AutoReply"


def test_the_reply_reference_is_opaque_and_reads_back(rendered: RenderedIssue, settings: Settings) -> None:
    references = {address: str(headers(rendered, settings, address)[REFERENCE_HEADER]) for address in PEOPLE}
    assert len(set(references.values())) == len(PEOPLE)
    for address, reference in references.items():
        local = address.split("@")[0]
        assert local not in reference and local.encode().hex() not in reference and reference.isascii()
        assert read_reply_reference(SECRET, reference) == ("2026-11-24", address)
        assert reference == reply_reference(SECRET, "2026-11-24", address)  # the same message, the same id


@pytest.mark.parametrize("reference", [
    "",
    "not-a-token",
    reply_reference(SECRET, "2026-11-24", "zoe@example.org")[:-2] + "AA",
    reply_reference("another-key-of-the-right-length-xxxxxxxx", "2026-11-24", "zoe@example.org"),
    make_token(SECRET, UNSUBSCRIBE, "zoe@example.org"),
], ids=["empty", "garbage", "altered", "other key", "an unsubscribe token"])
def test_a_forged_reference_reads_as_nothing(reference: str) -> None:
    assert read_reply_reference(SECRET, reference) is None


def _names(seed: int, n: int) -> list[str]:
    """Display names with accents, CJK, quotes and RFC 2047's own specials, 1 to 90 characters long."""
    import random

    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzéèàçôüÉ -'.,\"()日本語Łødœ_=?"
    return [("é" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))).strip() for _ in range(n)]


@pytest.mark.parametrize("header", ["To", "From", "Reply-To"])
def test_a_non_ascii_name_is_encoded_as_the_standard_library_encodes_it(header: str) -> None:
    """The fast path (one encoded word when the name fits on the header's line) writes what
    ``email.header.Header`` writes, and a longer name is folded by it."""
    from email.header import Header

    from newsletter.render.mime import format_address

    for name in _names(7, 3000):
        assert format_address(name, "a@example.org", header) == \
            Header(name, "utf-8", maxlinelen=76, header_name=header).encode(linesep="\r\n") + " <a@example.org>"
