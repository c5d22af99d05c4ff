"""DKIM: what the SMTP relay receives and what the outbox holds verify with independent verifiers
(dkimpy, given the public key as its DNS answer; OpenDKIM, offline in a namespace of its own); a
changed message does not. With an RSA and an Ed25519 key, each message carries both signatures."""

from __future__ import annotations

import mailbox
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from newsletter.config import Settings, load_settings
from newsletter.delivery.dkim import canonical_body, public_record, signer_for
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber
from tests.dkim_keys import dkim_table, pem, write_key
from tests.dns_server import txt
from tests.helpers import opendkim
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


ED_SELECTOR = "nl2026e"
#: One signing time for a whole test (sign() and sign_all() compared byte for byte): the clock's
#: now, whatever --clock-shift made it, as dkimpy refuses a t= in its future.
SIGNED_AT = time.time()


def with_both(project: Path) -> None:
    """[dkim] with the RSA key under nl2026 and the Ed25519 key under nl2026e (RFC 8463's pair)."""
    with_dkim(project, "rsa")
    write_key(project, "ed25519", "dkim-ed.pem")
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'ed25519_selector = "{ED_SELECTOR}"\ned25519_private_key_file = "dkim-ed.pem"\n')


def records_of_both() -> dict[str, bytes]:
    """Each selector's TXT record, as DNS names with the trailing dot."""
    return {f"{selector}._domainkey.example.org.": public_record(load_pem_private_key(pem(kind), password=None)).encode()
            for selector, kind in ((SELECTOR, "rsa"), (ED_SELECTOR, "ed25519"))}


def verifies_signature(message: bytes, idx: int, asked: list[bytes] | None = None) -> bool:
    """Whether dkimpy verifies the ``idx``-th DKIM-Signature of ``message`` (both keys published)."""
    records = records_of_both()

    def answer(name: bytes, timeout: int = 5) -> bytes | None:
        if asked is not None:
            asked.append(name)
        return records.get(name.decode())
    return bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=answer))


#: One DKIM-Signature header field, with its folded lines.
SIGNATURE = re.compile(rb"^DKIM-Signature:.*?\r\n(?![ \t])", re.M | re.S)


def only_signature(message: bytes, idx: int) -> bytes:
    """``message`` with every DKIM-Signature but the ``idx``-th removed."""
    fields = SIGNATURE.findall(message)
    for n, field in enumerate(fields):
        if n != idx:
            message = message.replace(field, b"", 1)
    return message


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


@pytest.mark.parametrize("transport", ["smtp", "outbox"])
def test_with_an_rsa_and_an_ed25519_key_every_message_carries_two_signatures_that_verify(
        project: Path, store: Store, transport: str) -> None:
    with_both(project)
    add_people(store)
    messages = received(project, store, transport)
    assert len(messages) == len(PEOPLE)
    for message in messages:
        head = message.split(b"\r\n\r\n")[0]
        fields = SIGNATURE.findall(head)
        assert len(fields) == 2
        assert b"a=rsa-sha256;" in fields[0] and b"s=nl2026;" in fields[0]
        assert b"a=ed25519-sha256;" in fields[1] and b"s=nl2026e;" in fields[1]
        for idx, selector in enumerate((SELECTOR, ED_SELECTOR)):
            asked: list[bytes] = []
            assert verifies_signature(message, idx, asked), (idx, message[:600])
            assert asked == [f"{selector}._domainkey.example.org.".encode()]
        assert REQUIRED <= set(signed_headers(message))
        tampered = message.replace(b"\r\nSubject: ", b"\r\nSubject: Re: ", 1)
        assert not verifies_signature(tampered, 0) and not verifies_signature(tampered, 1)


@pytest.mark.skipif(opendkim.OPENDKIM_TESTMSG is None,
                    reason="Debian's opendkim-tools is not installed (`make test` installs it)")
def test_opendkim_verifies_each_of_the_two_signatures(settings: Settings) -> None:
    """OpenDKIM (another implementation than ours and dkimpy's) verifies the RSA and the Ed25519
    signature, each on its own (it reports one result per message), and refuses a changed message."""
    from newsletter.delivery.dkim import Signer
    from tests.helpers.clock import real_now

    # OpenDKIM reads the machine's clock, not the one --clock-shift moves: sign at the machine's time.
    signer = Signer(SELECTOR, "example.org", load_pem_private_key(pem("rsa"), password=None),  # type: ignore[arg-type]
                    clock=lambda: real_now().timestamp(),
                    also=((ED_SELECTOR, load_pem_private_key(pem("ed25519"), password=None)),))  # type: ignore[arg-type]
    signed = signer.sign(_message(settings))
    assert len(SIGNATURE.findall(signed)) == 2
    tampered = signed.replace(b"\r\nSubject: ", b"\r\nSubject: Re: ", 1)
    records = {name: [("TXT", txt(record.decode()))] for name, record in records_of_both().items()}
    messages = [only_signature(signed, 0), only_signature(signed, 1), signed,
                only_signature(tampered, 0), only_signature(tampered, 1)]
    results = opendkim.verify(messages, records)
    assert results[:3] == [(0, "")] * 3, results
    assert [status for status, _ in results[3:]] != [0, 0] and all("Bad signature" in said for _, said in results[3:]), \
        results


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
    """The sample issue's message to one reader, signed with a ``kind`` key as [dkim] says."""
    with_dkim(settings.root, kind)
    return signer_for(load_settings(settings.root))(_message(settings))


def _message(settings: Settings) -> bytes:
    """The sample issue's message to one reader, unsigned."""
    from newsletter.services.check import check_issue
    from newsletter.render.mime import MessageFactory, Recipient
    from tests.conftest import DAY, SECRET

    rendered = check_issue(settings, DAY).rendered
    assert rendered is not None
    return MessageFactory(rendered, settings, secret_key=SECRET, date=NOW).build(Recipient("ann@example.org")).data


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


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "rsa+ed25519"])
def test_a_batch_signed_ahead_gives_the_messages_signed_one_by_one(kind: str) -> None:
    """sign_all (signed in a helper process, a chunk ahead) yields, in order, what sign() gives."""
    from newsletter.delivery import dkim as module
    from newsletter.delivery.dkim import CHUNK, Signer

    first, _, second = kind.partition("+")
    key = load_pem_private_key(pem(first), password=None)
    also = ((ED_SELECTOR, load_pem_private_key(pem(second), password=None)),) if second else ()
    signer = Signer(SELECTOR, "example.org", key, clock=lambda: SIGNED_AT, also=also)  # type: ignore[arg-type]
    messages = [(f"From: a@example.org\r\nTo: r{n}@example.org\r\nSubject: n{n}\r\n\r\nBody {n}\r\n").encode()
                for n in range(2 * CHUNK + 5)]
    signed = list(signer.sign_all(messages))
    assert signed == [signer.sign(message) for message in messages]
    assert module._pool_key(signer) in module._pools  # signed in the helper process
    if second:
        assert all(verifies_signature(message, 0) and verifies_signature(message, 1)
                   for message in signed[::CHUNK // 2])
    else:
        assert all(verifies(message, kind) for message in signed[::CHUNK // 2])


@pytest.mark.parametrize("pieces", [
    (b"a  b\r\n", b"\tc \r\n", b"last  \t"),
    (b"x" * 2000 + b"  y\r\n", b"z\r\n", b"\r\n\r\n"),  # the end's empty lines reach into earlier pieces
    (b"one\r\n", b"no line end ", b"here\r\n"),  # a piece ending mid-line
    (b"",),
    (b"only\r\n", b"\r\n"),
], ids=["runs", "empty-end", "mid-line", "empty", "blank-last"])
def test_a_body_in_pieces_hashes_as_the_whole_body(pieces: tuple[bytes, ...]) -> None:
    import base64
    import hashlib

    from newsletter.delivery.dkim import _BodyHash

    whole = base64.b64encode(hashlib.sha256(canonical_body(b"".join(pieces))).digest()).decode()
    hasher = _BodyHash()
    assert hasher(pieces) == whole
    assert hasher(pieces) == whole  # the large pieces now come from what it keeps


@pytest.mark.parametrize("kind", ["rsa", "rsa+ed25519"])
def test_the_factory_s_body_pieces_sign_as_the_whole_message(settings: Settings, kind: str) -> None:
    """The SMTP and outbox adapters hand the signer the factory's body pieces: same signature as the bytes."""
    from newsletter.services.check import check_issue
    from newsletter.delivery.dkim import Signer
    from newsletter.render.mime import MessageFactory, Recipient
    from tests.conftest import DAY, SECRET

    rendered = check_issue(settings, DAY).rendered
    assert rendered is not None
    factory = MessageFactory(rendered, settings, secret_key=SECRET, date=NOW)
    built = [factory.build(Recipient(f"r{n}@example.org", f"Prénom{n}")) for n in range(7)]
    assert all(b"".join(m.body) == m.data[len(m.data) - sum(map(len, m.body)):] for m in built)
    assert built[0].body[0] is built[1].body[0]  # a shared piece is one object for every recipient
    first, _, second = kind.partition("+")
    also = ((ED_SELECTOR, load_pem_private_key(pem(second), password=None)),) if second else ()
    signer = Signer(SELECTOR, "example.org", load_pem_private_key(pem(first), password=None),  # type: ignore[arg-type]
                    clock=lambda: SIGNED_AT, also=also)  # type: ignore[arg-type]
    whole = [signer.sign(m.data) for m in built]
    assert [signer.sign(m.data, m.body) for m in built] == whole
    assert list(signer.sign_all([m.data for m in built], [m.body for m in built])) == whole
    assert all(verifies_signature(m, 0) for m in whole) if second else all(verifies(m, "rsa") for m in whole)


two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the helper process signs only where there are two cores")


@pytest.fixture
def fresh_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[object, object]]:
    """No helper process started yet in this test (an earlier test's pool with the same keys would be reused)."""
    from newsletter.delivery import dkim as module

    pools: dict[object, object] = {}
    monkeypatch.setattr(module, "_pools", pools)
    yield pools
    for pool in pools.values():
        pool.shutdown()  # type: ignore[attr-defined]


@two_cores
def test_a_signed_send_starts_its_signing_process_before_it_claims_its_rows(
        project: Path, store: Store, monkeypatch: pytest.MonkeyPatch, fresh_pools: dict[object, object]) -> None:
    """The helper process starts while the send gets ready (a new interpreter takes tenths of a second),
    not when the first messages wait for their signatures."""
    from newsletter.delivery import engine

    with_both(project)
    add_people(store)
    started_with: list[int] = []
    start_send = engine.start_send

    def watched(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        started_with.append(len(fresh_pools))
        return start_send(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "start_send", watched)
    messages = received(project, store, "smtp")
    assert started_with == [1]
    assert all(verifies_signature(message, 0) and verifies_signature(message, 1) for message in messages)


@two_cores
def test_the_signing_process_does_not_run_the_main_script_again(tmp_path: Path) -> None:
    """A spawned interpreter runs its parent's main script again, for the `newsletter` command the whole
    command line; the helper process starts without it, and still signs."""
    (tmp_path / "rsa.pem").write_bytes(pem("rsa"))
    ran = tmp_path / "ran"
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        with open({str(ran)!r}, "a") as handle:
            handle.write("ran\\n")
        if __name__ == "__main__":
            from newsletter.delivery.dkim import Signer, load_key
            # one signing time for both ways of signing: t= would differ once a second passes between them
            key = load_key(Path({str(tmp_path / "rsa.pem")!r}))
            signer = Signer("nl2026", "example.org", key, clock=lambda: {SIGNED_AT})
            messages = [b"From: a@example.org\\r\\nTo: r%d@example.org\\r\\n\\r\\nBody\\r\\n" % n for n in range(12)]
            assert list(signer.sign_all(messages)) == [signer.sign(m) for m in messages]
    """), encoding="utf-8")
    subprocess.run([sys.executable, str(script)], check=True, timeout=120, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert ran.read_text() == "ran\n"


@pytest.mark.parametrize("signed, take", [(False, 5), (True, 10)])
def test_a_connection_takes_two_chunks_of_signatures_when_it_signs(project: Path, signed: bool, take: int) -> None:
    """Signed, each connection takes two of the helper's chunks: the second is signed while the first goes out."""
    from newsletter.delivery.dkim import CHUNK
    from newsletter.delivery.smtp import SMTPAdapter

    if signed:
        with_dkim(project, "rsa")
    smtp_config(project, 2525)
    assert SMTPAdapter(load_settings(project)).take == take
    assert not signed or take == 2 * CHUNK


def test_a_signed_send_through_an_unknown_adapter_is_refused_where_it_always_was(project: Path, store: Store) -> None:
    """The transport's preparation says nothing of a configuration it cannot use: the send does, as before."""
    from dataclasses import replace

    from newsletter.delivery.base import prepare_transport
    from newsletter.errors import ConfigError

    with_dkim(project, "rsa")
    add_people(store)
    settings = load_settings(project)
    settings = replace(settings, delivery=replace(settings.delivery, adapter="nowhere"))
    prepare_transport(settings)
    with pytest.raises(ConfigError, match="adapter 'nowhere' is unknown"):
        send(settings, store)
