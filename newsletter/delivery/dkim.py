"""DKIM signatures (RFC 6376, RFC 8463) for the transports that write the message bytes themselves.

The SMTP and outbox adapters apply :func:`signer_for` to each message just before it leaves:
every recipient's message differs (``To``, the unsubscribe links in ``List-Unsubscribe`` and
in the body), so each one is signed after substitution. Mail APIs sign on their side.

Canonicalization is relaxed/relaxed, written here (it is a few lines, and dkimpy parses the
whole message again per signature); the key operations are the ``cryptography`` library's.
``rsa-sha256`` signs with PKCS#1 v1.5; ``ed25519-sha256`` (RFC 8463) signs the SHA-256 digest
of the same data. With ``[dkim] ed25519_private_key_file`` beside an RSA key every message gets
both signatures (most receivers verify only RSA), made from one canonical form. The signed header list names every header in :data:`SIGNED_HEADERS` once
more than it occurs ("oversigning"), so that a relay or an attacker cannot add a second
``From``, ``Subject`` or ``List-Unsubscribe`` (nor a missing ``Reply-To``) without breaking
the signature.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import multiprocessing
import os
import re
import sys
import threading
import time
import types
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from newsletter.core import addresses
from newsletter.core.i18n import Quoted
from newsletter.config import DKIM_SELECTOR, DkimSettings, Settings
from newsletter.errors import N_, AddressError, ConfigError, UsageError, describe

log = logging.getLogger(__name__)

#: What the signature covers, in this order. RFC 8058 requires the two List-Unsubscribe headers.
SIGNED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Unsubscribe",
                  "List-Unsubscribe-Post", "List-Id", "MIME-Version", "Content-Type", "Feedback-ID")
RSA_BITS = 2048



class Sign(Protocol):
    """What an adapter applies to the messages it writes: a DKIM signer, or nothing.

    ``body`` (``bodies``: one per message) is optional: the message's body as the pieces
    :attr:`newsletter.render.mime.BuiltMessage.body` holds, which a signer canonicalizes once each.
    """

    def __call__(self, message: bytes, body: Sequence[bytes] = ()) -> bytes: ...

    def sign_all(self, messages: Sequence[bytes],
                 bodies: Sequence[Sequence[bytes]] | None = None) -> Iterator[bytes]: ...

    def prepare(self) -> None: ...


_CRLF = b"\r\n"
_SPACES = re.compile(rb"  +")  # after tabs became spaces: the runs relaxed canonicalization makes one space
_SPACE_EOL = re.compile(rb" \r\n")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
_HEADER_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")


def canonical_body(body: bytes) -> bytes:
    """The body in relaxed canonical form (RFC 6376 section 3.4.4).

    Runs of spaces and tabs become one space, whitespace at line ends goes, empty lines at the
    end go, and a non-empty body ends with exactly one CRLF.
    """
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    if b"  " in body:  # a literal-prefixed pattern: ten times faster than one that matches tabs too
        body = _SPACES.sub(b" ", body)
    if b" \r\n" in body:
        body = _SPACE_EOL.sub(_CRLF, body)
    end = len(body)
    if end and body[end - 1:end] == b" ":  # the last line, without CRLF, ends in a space
        end -= 1
    while end >= 2 and body[end - 2:end] == _CRLF:
        end -= 2
    return body[:end] + _CRLF if end else b""


def _canonical_lines(piece: bytes) -> bytes:
    """Whole lines in relaxed canonical form, but for the rule on empty lines at the body's end."""
    if b"\t" in piece:
        piece = piece.replace(b"\t", b" ")
    if b"  " in piece:
        piece = _SPACES.sub(b" ", piece)
    if b" \r\n" in piece:
        piece = _SPACE_EOL.sub(_CRLF, piece)
    return piece


class _BodyHash:
    """The relaxed body hash (``bh=``) of a body given in pieces of whole lines.

    Relaxed body canonicalization works line by line, so the body's canonical form is that of its
    pieces, one after the other (the last one alone takes the end-of-body rule). The pieces the
    same for every recipient (most of a rendered issue: only a few lines carry a name or a link of
    the reader's) come back in every message, and their canonical form is kept here: the rest of a
    signature is the SHA-256 over them and the key's operation.
    """

    #: Pieces at least this long are remembered (the per-recipient lines are shorter).
    LARGE = 1024
    #: Remembered pieces at most; more means another send (or another issue), so start again.
    KEEP = 64

    def __init__(self) -> None:
        self._seen: dict[bytes, bytes] = {}

    def __call__(self, pieces: Sequence[bytes]) -> str:
        *lines, last = pieces or (b"",)
        end = canonical_body(last)
        if not end or any(not piece.endswith(_CRLF) for piece in lines):
            # Empty lines at the end may reach into earlier pieces, or a piece ends mid-line: take it whole.
            return base64.b64encode(hashlib.sha256(canonical_body(b"".join(pieces))).digest()).decode()
        digest = hashlib.sha256()
        for piece in lines:
            digest.update(self._canonical(piece))
        digest.update(end)
        return base64.b64encode(digest.digest()).decode()

    def _canonical(self, piece: bytes) -> bytes:
        if len(piece) < self.LARGE:
            return _canonical_lines(piece)
        known = self._seen.get(piece)
        if known is None:
            if len(self._seen) >= self.KEEP:
                self._seen.clear()
            known = self._seen[piece] = _canonical_lines(piece)
        return known


def canonical_header(name: bytes, value: bytes) -> bytes:
    """One header in relaxed canonical form (RFC 6376 section 3.4.2), with its CRLF."""
    value = _SPACES.sub(b" ", _FOLD.sub(b"", value).replace(b"\t", b" ")).strip(b" \r\n")
    return name.strip().lower() + b":" + value + _CRLF


def split_headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """The header block as ``(name, raw value)`` pairs in order; folded lines stay in the value."""
    fields: list[tuple[bytes, bytes]] = []
    for line in re.split(rb"\r\n(?![ \t])", head):
        if not line:
            continue
        match = _HEADER_NAME.match(line)
        if match is None:
            raise ValueError(f"not a header line: {line[:40]!r}")
        fields.append((match.group(1), line[match.end():]))
    return fields


PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Signer:
    """Signs messages for one domain: one ``DKIM-Signature`` per key, under its own selector.

    ``also`` holds the further ``(selector, key)`` pairs: an RSA key with an Ed25519 one beside it
    (RFC 8463 section 6) gives two signatures, so that receivers that verify only RSA, most of them
    today, still find one they can check. Neither signature covers the other, so both come from the
    same canonical bytes, made once per message.
    """

    selector: str
    domain: str
    key: PrivateKey
    clock: Callable[[], float] = time.time
    also: tuple[tuple[str, PrivateKey], ...] = ()
    _body_hash: _BodyHash = field(default_factory=_BodyHash, compare=False, repr=False)

    @property
    def algorithm(self) -> str:
        return _algorithm(self.key)

    @property
    def keys(self) -> tuple[tuple[str, PrivateKey], ...]:
        return ((self.selector, self.key), *self.also)

    def __call__(self, message: bytes, body: Sequence[bytes] = ()) -> bytes:
        return self.sign(message, body)

    def sign(self, message: bytes, body: Sequence[bytes] = ()) -> bytes:
        """``message`` (CRLF line ends, as it goes on the wire) with its ``DKIM-Signature`` headers first.

        :param body: the message's body in pieces of whole lines (``message`` ends with them), if known.
        """
        return self.header(message, self.clock(), body) + message

    def header(self, message: bytes, now: float, body: Sequence[bytes] = ()) -> bytes:
        """The ``DKIM-Signature`` header lines (each with its CRLF) for ``message``, signed at ``now``."""
        return self._header(*_split(message, body), now)

    def _header(self, head: bytes, body: Sequence[bytes], now: float) -> bytes:
        signed, names = _signed_headers(head)
        body_hash = self._body_hash(body)
        lines = []
        for selector, key in self.keys:
            tags = (f"v=1; a={_algorithm(key)}; c=relaxed/relaxed; d={self.domain}; s={selector};\r\n"
                    f"\tt={int(now)}; h={names};\r\n\tbh={body_hash};\r\n\tb=")
            data = signed + canonical_header(b"DKIM-Signature", tags.encode())[:-2]
            encoded = base64.b64encode(_sign(key, data)).decode()
            lines.append("DKIM-Signature: " + tags + "\r\n\t".join(encoded[i:i + 72]
                                                                     for i in range(0, len(encoded), 72)) + "\r\n")
        return "".join(lines).encode()

    def sign_all(self, messages: Sequence[bytes],
                 bodies: Sequence[Sequence[bytes]] | None = None) -> Iterator[bytes]:
        """Each message signed, in order, produced as the consumer asks for them.

        A signature (the SHA-256 of a 60 KB body, the canonical headers, then 0.3 ms of RSA and
        0.05 ms of Ed25519) holds Python's interpreter lock, so a batch is signed ahead in a helper
        process, :data:`CHUNK` messages at a time, one chunk ahead of the one being sent: the sending
        threads keep writing to the wire meanwhile. Only each message's header block and body pieces
        go there (a piece that every message shares travels once per chunk), and only the signature
        headers come back.
        """
        pool = _pool(self) if len(messages) > 1 else None
        if bodies is None:
            bodies = [()] * len(messages)
        if pool is None:
            yield from map(self.sign, messages, bodies)
            return
        waiting: deque[tuple[Sequence[bytes], Sequence[Sequence[bytes]], Future[list[bytes]] | None]] = deque()
        now = self.clock()
        for start in range(0, len(messages), CHUNK):
            chunk, pieces = messages[start:start + CHUNK], bodies[start:start + CHUNK]
            waiting.append((chunk, pieces, _submit(pool, [_split(m, b) for m, b in zip(chunk, pieces)], now)))
            if len(waiting) > 1:
                yield from self._finish(*waiting.popleft())
        while waiting:
            yield from self._finish(*waiting.popleft())

    def prepare(self) -> None:
        """Start the helper process of :meth:`sign_all` now, without waiting for it: a new interpreter takes
        about a fifth of a second to start, which it then spends on the other core while the send gets ready
        (claims its rows, loads its render), not before the first message."""
        _pool(self)

    def _finish(self, chunk: Sequence[bytes], bodies: Sequence[Sequence[bytes]],
                future: Future[list[bytes]] | None) -> Iterator[bytes]:
        headers = _result(future)
        if headers is None:  # the helper process is gone: sign here rather than not at all
            yield from map(self.sign, chunk, bodies)
            return
        for message, header in zip(chunk, headers):
            yield header + message


def _split(message: bytes, body: Sequence[bytes]) -> tuple[bytes, tuple[bytes, ...]]:
    """The header block (with its last CRLF, without the blank line) and the body in pieces."""
    if body:
        size = sum(map(len, body))
        return message[:len(message) - size - 2], tuple(body)
    cut = message.find(b"\r\n\r\n")
    return (message[:cut + 2], (message[cut + 4:],)) if cut >= 0 else (message, ())


def _algorithm(key: PrivateKey) -> str:
    return "ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa-sha256"


def _signed_headers(head: bytes) -> tuple[bytes, str]:
    """What every signature of a message shares besides the body hash: the canonical signed headers
    and the folded ``h=`` list (the signature header's own canonical form is added per key)."""
    # Pick instances from the bottom up (section 5.4.2); one name more than present oversigns.
    by_name: dict[bytes, list[bytes]] = {}
    for name, value in split_headers(head):
        by_name.setdefault(name.lower(), []).append(value)
    names: list[str] = []
    signed = bytearray()
    for header in SIGNED_HEADERS:
        instances = by_name.get(header.lower().encode(), [])
        for value in reversed(instances):
            signed += canonical_header(header.encode(), value)
        names.extend([header] * (len(instances) + 1))
    return bytes(signed), _fold_list(names)


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(hashlib.sha256(data).digest())  # RFC 8463: Ed25519 over the SHA-256 digest
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# -- signatures in a helper process ------------------------------------------------------

#: Messages whose signatures one request to the helper process makes.
CHUNK = 5
_pools: dict[tuple[str, tuple[tuple[str, bytes], ...]], ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()
_child: Signer | None = None


def _pool(signer: Signer) -> ProcessPoolExecutor | None:
    """The helper process holding ``signer``'s keys (started once per set of keys), or None on one core."""
    if (os.cpu_count() or 1) < 2:
        return None
    pems = _pool_key(signer)
    with _pools_lock:
        pool = _pools.get(pems)
        if pool is None:
            # spawn, not fork: the sending process runs threads, which a fork would copy mid-flight.
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_start_child, initargs=pems)
            _start(pool)
            _pools[pems] = pool
        return pool


def _start(pool: ProcessPoolExecutor) -> None:
    """Start the pool's process (its first request does). A spawned interpreter first runs the parent's main
    script again (for the `newsletter` command: it imports the whole command line, 0.03 s of the process's
    0.2 s start), which its work does not need: it is shown none while it starts."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        _submit(pool, (), 0.0)
    finally:
        sys.modules["__main__"] = main


def _pool_key(signer: Signer) -> tuple[str, tuple[tuple[str, bytes], ...]]:
    """The domain and each ``(selector, PEM)``: what the helper process signs with, and names its pool
    (by value: an ``id()`` of a key may be reused by another key once the first is gone)."""
    return signer.domain, tuple((selector, key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
                                for selector, key in signer.keys)


def _start_child(domain: str, pems: tuple[tuple[str, bytes], ...]) -> None:
    global _child
    keys = []
    for selector, pem in pems:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey))
        keys.append((selector, key))
    _child = Signer(keys[0][0], domain, keys[0][1], also=tuple(keys[1:]))


def _child_headers(messages: Sequence[tuple[bytes, tuple[bytes, ...]]], now: float) -> list[bytes]:
    assert _child is not None
    return [_child._header(head, body, now) for head, body in messages]


def _submit(pool: ProcessPoolExecutor, messages: Sequence[tuple[bytes, tuple[bytes, ...]]],
            now: float) -> Future[list[bytes]] | None:
    try:
        return pool.submit(_child_headers, messages, now)
    except (BrokenProcessPool, RuntimeError):
        return None


def _result(future: Future[list[bytes]] | None) -> list[bytes] | None:
    if future is None:
        return None
    try:
        return future.result()
    except (BrokenProcessPool, OSError) as err:
        log.warning("the DKIM signing process stopped (%s); signing in the sending process", describe(err))
        return None


def _fold_list(names: list[str]) -> str:
    lines: list[str] = []
    line = ""
    for name in names:
        if line and len(line) + len(name) > 66:
            lines.append(line + ":")
            line = ""
        line = f"{line}:{name}" if line else name
    return "\r\n\t ".join([*lines, line])


def load_key(path: Path) -> PrivateKey:
    """The private key of a checked ``[dkim]`` table.

    :raises ConfigError: when the file changed since the settings were read.
    """
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"the DKIM private key {path} can no longer be read ({err.__class__.__name__})",
                          hint="restore it, or fix the [dkim] key file in newsletter.toml") from err
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise ConfigError(f"the DKIM private key {path} is neither RSA nor Ed25519",
                          hint="run `newsletter dkim keygen` and publish the record it prints")
    return key


@lru_cache(maxsize=8)
def _signer(dkim: DkimSettings, stamp: tuple[tuple[int, int], ...]) -> Signer:
    (selector, first), *more = dkim.keys
    return Signer(selector, dkim.domain, load_key(first), also=tuple((name, load_key(path)) for name, path in more))


class _Unsigned:
    def __call__(self, message: bytes, body: Sequence[bytes] = ()) -> bytes:
        return message

    def sign_all(self, messages: Sequence[bytes],
                 bodies: Sequence[Sequence[bytes]] | None = None) -> Iterator[bytes]:
        return iter(messages)

    def prepare(self) -> None:
        pass


_unsigned = _Unsigned()


def signer_for(settings: Settings) -> Sign:
    """The function an adapter applies to each message it writes: a DKIM signer, or the identity
    when ``[dkim]`` is absent. The key is read once (again if its file changes)."""
    if settings.dkim is None:
        return _unsigned
    stamps = []
    for _, path in settings.dkim.keys:
        try:
            stat = path.stat()
        except OSError as err:
            raise ConfigError(f"the DKIM private key {path} is gone: {err.strerror}",
                              hint="restore it, or fix the [dkim] key file in newsletter.toml") from err
        stamps.append((stat.st_mtime_ns, stat.st_size))
    return _signer(settings.dkim, tuple(stamps))


def public_record(key: PrivateKey) -> str:
    """The TXT record value that publishes ``key``'s public half (``v=DKIM1; k=…; p=…``)."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def zone_line(selector: str, domain: str, record: str) -> str:
    """The record as a zone-file line, in quoted strings of at most 255 characters (RFC 1035)."""
    chunks = " ".join(f'"{record[i:i + 250]}"' for i in range(0, len(record), 250))
    return f"{selector}._domainkey.{domain}. 3600 IN TXT ( {chunks} )"


def generate_key(kind: str, path: Path) -> str:
    """Write a new private key to ``path`` (mode 0600, never over an existing file).

    :return: the TXT record value that publishes its public half.
    :raises UsageError: for an unknown type, an existing file, or a folder that cannot be written.
    """
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise UsageError(f"unknown key type {kind!r}; use rsa or ed25519")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(N_("%(path)s already exists; a DKIM key is never overwritten (the published record would no "
                            "longer match): choose another selector or --out file"), values={"path": path}) from None
    except OSError as err:
        raise UsageError(N_("cannot create %(path)s: %(reason)s"), values={"path": path, "reason": err.strerror}) \
            from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    except OSError as err:
        path.unlink(missing_ok=True)
        raise UsageError(N_("cannot write %(path)s: %(reason)s"), values={"path": path, "reason": err.strerror}) \
            from err
    return public_record(key)


@dataclass(frozen=True)
class NewKey:
    """What ``newsletter dkim keygen`` made: the key file and the DNS record that publishes it."""

    path: Path
    selector: str
    domain: str
    record: str  # the TXT value, ``v=DKIM1; k=…; p=…``

    @property
    def zone_line(self) -> str:
        return zone_line(self.selector, self.domain, self.record)


def keygen(selector: str, domain: str, kind: str, path: Path) -> NewKey:
    """Make a key for ``selector._domainkey.domain`` at ``path`` (see :func:`generate_key`).

    :raises UsageError: for a selector or domain that is not a DNS name, or a file that exists.
    """
    if not DKIM_SELECTOR.fullmatch(selector) or len(selector) > 200:
        raise UsageError(N_("the selector %(selector)s is not a DNS name; use letters, digits and hyphens, e.g. "
                            "nl2026 (a new selector for each new key)"), values={"selector": Quoted(selector)})
    try:
        ascii_domain = addresses.ascii_domain(domain.strip().rstrip(".").lower())
    except AddressError as err:
        raise UsageError(N_("--domain %(domain)s: %(error)s"), values={"domain": Quoted(domain), "error": err}) from err
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", ascii_domain):
        raise UsageError(N_("--domain %(domain)s is not a domain name such as example.org"),
                         values={"domain": Quoted(domain)})
    return NewKey(path, selector.lower(), ascii_domain, generate_key(kind, path))
