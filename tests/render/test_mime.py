"""The sample message is a well-formed multipart/alternative message that any parser reads back."""

from __future__ import annotations

import dataclasses
import random
import email
import email.policy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.config import Settings
from newsletter.content.load import load_issue
from newsletter.errors import HeaderInjectionError
from newsletter.render.mime import MessageFactory, Recipient, build_message, preferences_url
from newsletter.render.pipeline import RenderedIssue, render_issue
from newsletter.core.tokens import UNSUBSCRIBE, read_token
from tests.conftest import DAY, SECRET
from tests.helpers.messages import build_message_stdlib

WHEN = datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def rendered(settings: Settings) -> RenderedIssue:
    return render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)


def build(rendered: RenderedIssue, settings: Settings, recipient: Recipient) -> bytes:
    return build_message(rendered, settings, recipient, secret_key=SECRET, date=WHEN)


def test_message_parses_back_with_both_parts(rendered: RenderedIssue, settings: Settings) -> None:
    raw = build(rendered, settings, Recipient("zoe.durand@example.org", "Zoé", "Durand"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == rendered.subject
    assert msg["From"].addresses[0].display_name == "La rédaction"
    assert msg["To"].addresses[0].display_name == "Zoé Durand"
    assert msg["Message-ID"].startswith("<2026-11-24.") and msg["Date"] == "Tue, 24 Nov 2026 07:00:00 +0100"
    assert msg.get_content_type() == "multipart/alternative"
    text_part, html_part = msg.iter_parts()
    assert text_part.get_content_type() == "text/plain" and html_part.get_content_type() == "text/html"
    html, text = rendered.personalize({"first_name": "Zoé", "last_name": "Durand", "email": "zoe.durand@example.org",
                                      "unsubscribe_url": msg["List-Unsubscribe"].split(">")[0][1:],
                                      "preferences_url": preferences_url(settings, SECRET, "zoe.durand@example.org")})
    # Line ends travel as CRLF on the wire.
    assert text_part.get_content().replace("\r\n", "\n") == text
    assert html_part.get_content().replace("\r\n", "\n") == html


def test_list_unsubscribe_is_one_click_and_never_encoded(rendered: RenderedIssue, settings: Settings) -> None:
    raw = build(rendered, settings, Recipient("zoe@example.org"))
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    line = next(h for h in header_block.split("\r\n") if h.startswith("List-Unsubscribe:"))
    assert "=?" not in line
    url = line.split("<", 1)[1].split(">", 1)[0]
    assert url.startswith("https://news.example.org/u/")
    assert read_token(SECRET, UNSUBSCRIBE, url.rsplit("/", 1)[1]) == "zoe@example.org"
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in header_block
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    body_lines = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 76


def test_message_id_is_stable_per_issue_and_address(rendered: RenderedIssue, settings: Settings) -> None:
    a1 = build(rendered, settings, Recipient("a@example.org"))
    a2 = build(rendered, settings, Recipient("a@example.org", "Autre"))
    b = build(rendered, settings, Recipient("b@example.org"))

    def mid(raw: bytes) -> str:
        return str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])

    assert mid(a1) == mid(a2) != mid(b)


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient("victim@example.org\r\nBcc: all@example.org"),
        Recipient("victim@example.org", "Eve\r\nBcc: all@example.org"),
        Recipient("victim@example.org", "Eve\nX-Injected: 1"),
    ],
)
def test_line_breaks_in_header_values_are_refused(rendered: RenderedIssue, settings: Settings,
                                                  recipient: Recipient) -> None:
    with pytest.raises(HeaderInjectionError):
        build(rendered, settings, recipient)


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient("zoe@example.org", "Zoé", "Durand"),
        Recipient("a.b+news@example.org"),
        Recipient("long.address.for.folding@sub.example.org", "Marie-Christine Éléonore", "de La Tour-d’Auvergne"),
        Recipient("x@example.org", "<b>&amp;", "\"quoted\""),
    ],
)
def test_fast_path_equals_the_standard_library(rendered: RenderedIssue, settings: Settings,
                                               recipient: Recipient) -> None:
    fast = email.message_from_bytes(build(rendered, settings, recipient), policy=email.policy.default)
    slow = email.message_from_bytes(
        build_message_stdlib(rendered, settings, recipient, secret_key=SECRET, date=WHEN), policy=email.policy.default)
    names = ["From", "Reply-To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
             "List-Unsubscribe-Post", "List-Archive", "MIME-Version"]
    for name in names:
        assert str(fast[name]) == str(slow[name]), name
    # Python's parser keeps the folding space between two encoded-words of a display name
    # (RFC 2047 §6.2 says to drop it), wherever each builder happened to split the name.
    (fast_to,), (slow_to,) = fast["To"].addresses, slow["To"].addresses
    assert fast_to.addr_spec == slow_to.addr_spec == recipient.email
    assert fast_to.display_name.replace(" ", "") == slow_to.display_name.replace(" ", "")
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    for a, b in zip(fast.iter_parts(), slow.iter_parts(), strict=True):
        assert a.get_content_type() == b.get_content_type()
        assert a.get_content().replace("\r\n", "\n") == b.get_content().replace("\r\n", "\n")


#: Body lines that would begin a wire line with a dot: at the start, after a soft line break at 76, alone.
DOT_LINES = [".point de départ", "x" * 75 + ".suite après la coupure", ".", "é" * 30 + "." * 40]


def test_no_line_of_a_built_message_begins_with_a_dot(rendered: RenderedIssue, settings: Settings) -> None:
    """So SMTP sends it without a dot-stuffing pass: a leading dot is written =2E, the text reads the same."""
    dotted = dataclasses.replace(rendered, text="\n".join(DOT_LINES) + "\n" + rendered.text,
                                 html="\n".join(DOT_LINES) + "\n" + rendered.html)
    factory = MessageFactory(dotted, settings, secret_key=SECRET, date=WHEN)
    built = factory.build(Recipient("zoe@example.org", ".Zoé", "Durand"))
    lines = built.data.split(b"\r\n")
    assert built.dot_free and not [line for line in lines if line.startswith(b".")]
    assert max(len(line) for line in lines[lines.index(b""):]) <= 76
    text_part, html_part = email.message_from_bytes(built.data, policy=email.policy.default).iter_parts()
    assert text_part.get_content().replace("\r\n", "\n").split("\n")[:len(DOT_LINES)] == DOT_LINES
    assert html_part.get_content().replace("\r\n", "\n").split("\n")[:len(DOT_LINES)] == DOT_LINES


def _random_line(rnd: random.Random, alphabet: str, longest: int) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, longest)))


def _by_the_standard_library(line: str) -> str:
    """The reference: the whole line through :func:`quoprimime.body_encode`, 76 wide, or 74 wide with each
    dot that would begin a line written =2E."""
    from email import quoprimime

    chars = line.encode("utf-8").decode("latin-1")
    encoded = quoprimime.body_encode(chars, maxlinelen=76, eol="\r\n")
    if encoded.startswith(".") or "\n." in encoded:
        encoded = quoprimime.body_encode(chars, maxlinelen=74, eol="\r\n")
        encoded = ("=2E" + encoded[1:] if encoded.startswith(".") else encoded).replace("\n.", "\n=2E")
    return encoded


#: Characters that test every rule: = (always quoted), a space or tab (quoted at the end of a line), a dot
#: (after a break), non-ASCII (two bytes quoted), a no-break space.
TEXT = "ab =.\t é’\xa0<>\"'~xyzXYZ"


@pytest.mark.parametrize("seed", range(4))
def test_a_line_is_quoted_printable_as_the_standard_library_writes_it(seed: int) -> None:
    from newsletter.render.mime import _qp_line

    rnd = random.Random(seed)
    for _ in range(5000):
        line = _random_line(rnd, TEXT + ("\r\n" if rnd.random() < 0.05 else ""), 200)
        assert _qp_line(line) == _by_the_standard_library(line), line


@pytest.mark.parametrize("seed", range(4))
def test_a_line_with_fields_is_quoted_piece_by_piece_into_the_same_bytes_as_whole(seed: int) -> None:
    """A line with a recipient's fields is quoted per recipient from its text quoted once: the bytes must be
    those of the whole line quoted by the standard library (soft breaks never inside an =XX, a space or tab
    at the end, a dot after a break, values with a line break in them)."""
    from newsletter.core.merge import CompiledTemplate, Context, MergeSlots
    from newsletter.render.mime import _QuotedTemplate

    rnd = random.Random(seed)
    value = "ab =.\t é’<>&\"xyz\r\n"
    for _ in range(1500):
        slots = MergeSlots()
        fields = [rnd.choice(["first_name", "last_name", "email", "unsubscribe_url"]) for _ in range(rnd.randint(1, 3))]
        tokens = [slots.token(field, rnd.choice([Context.TEXT, Context.HTML])) for field in fields]
        master = _random_line(rnd, TEXT, 90) + "".join(t + _random_line(rnd, TEXT, 90) for t in tokens)
        template = CompiledTemplate(master, slots)
        values = {field: _random_line(rnd, value if rnd.random() < 0.1 else value[:-2], 40) for field in fields}
        whole = (_by_the_standard_library(template.render(values)) + "\r\n").encode("ascii")
        assert _QuotedTemplate(template).render(values) == whole, (master, values)
