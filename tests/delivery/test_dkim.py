"""DKIM: what the SMTP relay receives and what the outbox holds verify with an independent verifier
(dkimpy, given the public key as its DNS answer); a changed message does not."""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from newsletter.config import Settings, load_settings
from newsletter.delivery.dkim import canonical_body, public_record, signer_for
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.dkim_keys import dkim_table, pem, write_key
from tests.sink import Sink
from tests.helpers.clock import NOW
from tests.helpers.sending import send, smtp_config

SELECTOR = "nl2026"
#: An internationalized address (UTF-8 local part, IDN domain) and a display name long enough to be folded.
PEOPLE = {
    "lecteur@example.org": ("Ann", "Lee"),
    "paul.lefèvre@exämple.fr": ("Élise-Marie-Joséphine", "de La Rochefoucauld-Montmorency " * 3),
}
REQUIRED = {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post",
            "feedback-id"}


def dns_for(kind: str, asked: list[bytes] | None = None):  # type: ignore[no-untyped-def]
    """A dkimpy ``dnsfunc`` that knows one record: the test key's, under its selector."""
    record = public_record(load_pem_private_key(pem(kind), password=None)).encode()

    def answer(name: bytes, timeout: int = 5) -> bytes | None:
        if asked is not None:
            asked.append(name)
        return record if name == f"{SELECTOR}._domainkey.example.org.".encode() else None
    return answer


def verifies(message: bytes, kind: str) -> bool:
    return bool(dkim.verify(message, dnsfunc=dns_for(kind)))


def with_dkim(project: Path, kind: str) -> None:
    write_key(project, kind)
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(dkim_table(selector=SELECTOR, key_file="dkim.pem"))


def add_people(store: Store) -> None:
    for address, (first, last) in PEOPLE.items():
        add_subscriber(store, address, now=NOW, first_name=first, last_name=last)


def signed_headers(message: bytes) -> list[str]:
    signature = dkim.util.parse_tag_value(re.search(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", message,
                                                    re.M | re.S).group(1))  # type: ignore[union-attr]
    return [name.strip().decode().lower() for name in signature[b"h"].split(b":")]


def received(project: Path, store: Store, transport: str) -> list[bytes]:
    """Send the issue to everyone; the messages as the relay received them or the outbox holds them."""
    if transport == "smtp":
        with Sink(smtputf8=True) as relay:
            smtp_config(project, relay.port)
            report = send(load_settings(project), store)
        messages = list(relay.recorder.raw)
    else:
        report = send(load_settings(project), store)
        box = mailbox.Maildir(project / "out" / "outbox", create=False)
        # A Maildir holds LF line ends; a receiving MTA reads them back as CRLF.
        messages = [box.get_bytes(key).replace(b"\n", b"\r\n") for key in box.keys()]
    assert report.sent_now == len(PEOPLE) and not report.failures
    return messages


@pytest.mark.parametrize("transport", ["smtp", "outbox"])
@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_every_message_verifies_with_the_published_key(project: Path, store: Store, transport: str,
                                                      kind: str) -> None:
    with_dkim(project, kind)
    add_people(store)
    messages = received(project, store, transport)
    assert len(messages) == len(PEOPLE)
    for message in messages:
        asked: list[bytes] = []
        assert dkim.verify(message, dnsfunc=dns_for(kind, asked)), message[:400]
        assert asked == [b"nl2026._domainkey.example.org."]
        assert REQUIRED <= set(signed_headers(message))
        algorithm = b"a=ed25519-sha256;" if kind == "ed25519" else b"a=rsa-sha256;"
        assert algorithm in message.split(b"\r\n\r\n")[0] and b"c=relaxed/relaxed;" in message
        # Signed, the factory's message still has no line that begins with a dot (SMTP sends it unstuffed).
        assert not message.startswith(b".") and b"\n." not in message
    folded = [m for m in messages if "lefèvre".encode() in m]
    assert len(folded) == 1 and re.search(rb"^To: .*\r\n[ \t]", folded[0], re.M)  # the long To is folded


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
@pytest.mark.parametrize(("change", "old", "new"), [
    ("the unsubscribe link in the body", b"/u/", b"/u/X"),
    ("the subject", b"\r\nSubject: ", b"\r\nSubject: Re: "),
    ("a second List-Unsubscribe added", b"\r\nMIME-Version:",
     b"\r\nList-Unsubscribe: <https://evil.example/>\r\nMIME-Version:"),
    ("a Reply-To moved", b"\r\nReply-To: redaction@example.org", b"\r\nReply-To: pirate@example.net"),
    ("the From", b"<redaction@example.org>", b"<redaction@example.net>"),
])
def test_a_changed_message_fails_verification(settings: Settings, kind: str, change: str, old: bytes,
                                              new: bytes) -> None:
    signed = _signed(settings, kind)
    assert verifies(signed, kind)
    tampered = signed.replace(old, new, 1) if change != "the unsubscribe link in the body" else (
        signed[:signed.index(b"\r\n\r\n")] + signed[signed.index(b"\r\n\r\n"):].replace(old, new, 1))
    assert tampered != signed
    assert not verifies(tampered, kind)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_what_relaxed_canonicalization_forgives_still_verifies(settings: Settings, kind: str) -> None:
    """Relays refold headers and pad lines; a relaxed signature survives that."""
    signed = _signed(settings, kind)
    head, _, body = signed.partition(b"\r\n\r\n")
    refolded = head.replace(b"\r\nSubject: ", b"\r\nSubject:\r\n\t  ", 1)
    padded = body.replace(b"\r\n", b" \t\r\n", 5) + b"\r\n\r\n"
    assert verifies(refolded + b"\r\n\r\n" + padded, kind)


def _signed(settings: Settings, kind: str) -> bytes:
    from newsletter.services.check import check_issue
    from newsletter.render.mime import MessageFactory, Recipient
    from tests.conftest import DAY, SECRET

    with_dkim(settings.root, kind)
    rendered = check_issue(settings, DAY).rendered
    assert rendered is not None
    message = MessageFactory(rendered, settings, secret_key=SECRET, date=NOW).build(Recipient("ann@example.org")).data
    return signer_for(load_settings(settings.root))(message)


def test_without_a_dkim_table_nothing_is_signed(settings: Settings, store: Store) -> None:
    add_people(store)
    messages = received(settings.root, store, "outbox")
    assert messages and not any(b"DKIM-Signature" in m for m in messages)


@pytest.mark.parametrize(("body", "canonical"), [
    (b"", b""),
    (b"\r\n\r\n", b""),
    (b"a  b\t\tc \t\r\n\r\n\r\n", b"a b c\r\n"),
    (b"  indented\r\nlast line  ", b" indented\r\nlast line\r\n"),
    (b"x\r\n \r\n", b"x\r\n"),
])
def test_relaxed_body_canonicalization(body: bytes, canonical: bytes) -> None:
    assert canonical_body(body) == canonical


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_batch_signed_ahead_gives_the_messages_signed_one_by_one(kind: str) -> None:
    """sign_all (signed in a helper process, a chunk ahead) yields, in order, what sign() gives."""
    from newsletter.delivery import dkim as module
    from newsletter.delivery.dkim import CHUNK, Signer

    key = load_pem_private_key(pem(kind), password=None)
    signer = Signer(SELECTOR, "example.org", key, clock=lambda: 1_795_000_000.0)  # type: ignore[arg-type]
    messages = [(f"From: a@example.org\r\nTo: r{n}@example.org\r\nSubject: n{n}\r\n\r\nBody {n}\r\n").encode()
                for n in range(2 * CHUNK + 5)]
    signed = list(signer.sign_all(messages))
    assert signed == [signer.sign(message) for message in messages]
    assert id(key) in module._pools  # signed in the helper process
    assert all(verifies(message, kind) for message in signed[::CHUNK // 2])
