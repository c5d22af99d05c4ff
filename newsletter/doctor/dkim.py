"""The DKIM check: each selector's record is published and holds the public half of its key (RSA, and
Ed25519 beside it); an Ed25519 key alone is a warning, since most receivers do not verify it yet.

A mail API signs with the key set up in its dashboard, so only our own signing (SMTP, outbox) is checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.config import Settings
from newsletter.doctor.lookup import Dns
from newsletter.doctor.report import Finding, error, ok, warning


def tags(record: str) -> dict[str, str]:
    """``tag=value`` pairs of a DKIM or DMARC record (names lower-cased, values stripped, the first one kept)."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            found.setdefault(name.strip().lower(), value.strip())
    return found


def _dkim_public(key_file: Path) -> tuple[str, bytes, str]:
    """``(k, p bytes, record text)`` of the key in ``key_file`` as DNS publishes it."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        kind, raw = "ed25519", key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
    else:
        kind, raw = "rsa", key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return kind, raw, f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode('ascii')}"


def _same_rsa_key(published: bytes, ours: bytes) -> bool:
    """RSA keys compared by their numbers: DNS may hold SubjectPublicKeyInfo or a bare PKCS#1 key."""
    mine = serialization.load_der_public_key(ours)
    try:
        theirs = serialization.load_der_public_key(published)
    except (ValueError, TypeError):
        return False
    return (isinstance(theirs, rsa.RSAPublicKey) and isinstance(mine, rsa.RSAPublicKey)
            and theirs.public_numbers() == mine.public_numbers())


def check_dkim(settings: Settings, lookup: Dns) -> list[Finding]:
    dkim = settings.dkim
    adapter = settings.delivery.adapter
    if dkim is None:
        if adapter in ("smtp", "outbox"):
            return [warning("dkim", "messages are not DKIM-signed: Gmail and Yahoo require DKIM from bulk senders",
                            "add a [dkim] table (selector, domain, private_key_file) and publish its public key")]
        return [ok("dkim", f"not checked here: {adapter} signs with the key set up in its dashboard, where the "
                   "domain must show as verified")]
    findings: list[Finding] = []
    kinds: list[str] = []
    for selector, key_file in dkim.keys:
        kind, finding = _dkim_key(selector, dkim.domain, key_file, lookup)
        kinds.append(kind)
        findings.append(finding)
    if kinds == ["ed25519"]:
        findings.append(warning("dkim", "messages carry only an Ed25519 signature, which most receivers do not verify "
                                "yet (RFC 8463): to them the mail is unsigned",
                                f"add an RSA key beside it: `newsletter dkim keygen {dkim.selector}-rsa`, then set "
                                "selector and private_key_file to the RSA key and ed25519_selector and "
                                "ed25519_private_key_file to this one"))
    return findings


def _dkim_key(selector: str, domain: str, key_file: Path, lookup: Dns) -> tuple[str, Finding]:
    """The key's type (``""`` when unreadable) and whether DNS publishes its public half."""
    name = f"{selector}._domainkey.{domain}"
    check = f"dkim {name}"
    try:
        kind, ours, record = _dkim_public(key_file)
    except (OSError, ValueError, TypeError) as err:  # changed since the configuration was read
        return "", error(check, f"{key_file} cannot be read as a key any more: {err.__class__.__name__}",
                         "restore the key file (PEM, unencrypted, mode 0600) or point [dkim] at it")
    publish = f'publish {name} TXT "{record}"'
    records = [t for t in lookup.txt(name) if "p=" in t.replace(" ", "")]
    if not records:
        return kind, error(check, f"no DKIM key at {name}: receivers cannot verify the signature", publish)
    if len(records) > 1:
        return kind, error(check, f"{len(records)} DKIM records at {name}; verifiers may pick either",
                           f"keep one: {publish}")
    found = tags(records[0])
    if found.get("v", "DKIM1") != "DKIM1":
        return kind, error(check, f"the record's v= tag is {found['v']!r}, not DKIM1", publish)
    p = re.sub(r"\s+", "", found.get("p", ""))
    if not p:
        return kind, error(check, "the key is revoked (empty p=)", publish)
    try:
        theirs = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return kind, error(check, "p= is not valid base64", publish)
    if found.get("k", "rsa").lower() != kind:
        return kind, error(check, f"the record says k={found.get('k', 'rsa')} but {key_file.name} is an {kind} key",
                           publish)
    matches = theirs == ours if kind == "ed25519" else _same_rsa_key(theirs, ours)
    if not matches:
        return kind, error(check, f"the key at {name} is not the public half of {key_file.name}: "
                           "every signature fails", publish)
    if "y" in found.get("t", "").lower().split(":"):
        return kind, warning(check, "the key is in test mode (t=y): receivers treat signatures as unsigned",
                             "remove t=y from the record")
    return kind, ok(check, f"the published {kind} key matches {key_file.name}")
